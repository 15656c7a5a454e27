import { Cursor, NeedMoreData, PickleFault, decodeLong } from './cursor.js';
import { PthError } from './errors.js';
import { buildObject, callGlobal, newObject, resolveGlobal, storageFromPersistentId } from './globals.js';
import { describe, toKey, type Item, type ItemDict } from './items.js';
import type { TensorSource } from './tensor.js';

/**
 * A restricted unpickler for the protocol 2-5 opcodes `torch.save` emits. It builds plain
 * data (Maps, arrays, scalars) plus lazy tensors; globals are limited to an allow-list of
 * tags (see globals.ts) and nothing is ever executed. All sizes are bounded.
 */

export interface PickleLimits {
  /** Most memo entries (BINPUT/MEMOIZE). */
  maxMemo: number;
  /** Most items on the stack at once. */
  maxStack: number;
  /** Most open MARKs (nesting depth of literal containers). */
  maxMarks: number;
  /**
   * Most values pushed in all (each new object, and each element a container gains, is one push).
   * Bounds memory: a few bytes of EMPTY_DICT/APPEND opcodes each build a ~200-byte object.
   */
  maxItems: number;
}

/** A real state dict pushes ~20 values per tensor; 2^20 covers ~50k tensors and bounds memory to ~200 MB. */
export const DEFAULT_PICKLE_LIMITS: PickleLimits = { maxMemo: 1 << 20, maxStack: 1 << 20, maxMarks: 1000, maxItems: 1 << 20 };

export interface PickleContext {
  /** File named in errors. */
  file: string;
  /** Which pickle this is, e.g. `archive/data.pkl`. */
  where: string;
  /** Bytes that exist from buf[0] (more than buf.length when buf is a prefix; see NeedMoreData). */
  available: number;
  limits: PickleLimits;
  /** Tensors keep this to read their bytes later. */
  source: TensorSource;
}

/** Unpickles one pickle starting at buf[0]; returns the object and the offset just past STOP. */
export function unpickle(buf: Uint8Array, ctx: PickleContext): { value: Item; end: number } {
  return new Unpickler(buf, ctx).run();
}

const utf8 = new TextDecoder('utf-8');

/** Decodes a string operand; V8's string length cap (~2^29 chars) becomes a fault, not a raw RangeError. */
function text(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw new PickleFault(`string of ${bytes.length} bytes cannot be decoded (${err instanceof Error ? err.message : String(err)})`);
  }
}

class Unpickler {
  private readonly cur: Cursor;
  private readonly stack: Item[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, Item>();
  private pushes = 0;

  constructor(
    buf: Uint8Array,
    private readonly ctx: PickleContext,
  ) {
    this.cur = new Cursor(buf, ctx.available);
  }

  run(): { value: Item; end: number } {
    let at = 0;
    let op = -1;
    try {
      for (;;) {
        at = this.cur.pos;
        op = -1;
        op = this.cur.u8('opcode');
        if (this.step(op)) return { value: this.pop(), end: this.cur.pos };
      }
    } catch (err) {
      if (err instanceof NeedMoreData || !(err instanceof PickleFault)) throw err;
      const opName = op < 0 ? '' : ` (opcode 0x${op.toString(16).padStart(2, '0')})`;
      throw new PthError(this.ctx.file, `${this.ctx.where} at byte ${at}${opName}: ${err.message}`, { cause: err });
    }
  }

  /** Executes one opcode; true on STOP. */
  private step(op: number): boolean {
    const c = this.cur;
    switch (op) {
      case 0x80: this.proto(c.u8('protocol')); break; // PROTO
      case 0x95: this.frame(c.u64('frame length')); break; // FRAME (a read-ahead hint)
      case 0x2e: return true; // STOP
      case 0x7d: this.push(new Map()); break; // EMPTY_DICT
      case 0x5d: case 0x29: this.push([]); break; // EMPTY_LIST, EMPTY_TUPLE
      case 0x28: this.mark(); break; // MARK
      case 0x30: this.pop(); break; // POP
      case 0x31: this.popMark(); break; // POP_MARK
      case 0x4a: this.push(c.i32('BININT')); break;
      case 0x4b: this.push(c.u8('BININT1')); break;
      case 0x4d: this.push(c.u16('BININT2')); break;
      case 0x8a: this.push(decodeLong(c.take(c.u8('LONG1 length'), 'LONG1'))); break;
      case 0x8b: this.push(decodeLong(c.take(this.longLength(c.i32('LONG4 length')), 'LONG4'))); break;
      case 0x47: this.push(c.f64be('BINFLOAT')); break;
      case 0x8c: this.push(text(c.take(c.u8('length'), 'SHORT_BINUNICODE'))); break;
      case 0x58: this.push(text(c.take(c.u32('length'), 'BINUNICODE'))); break;
      case 0x8d: this.push(text(c.take(c.u64('length'), 'BINUNICODE8'))); break;
      case 0x55: this.push(text(c.take(c.u8('length'), 'SHORT_BINSTRING'))); break;
      case 0x54: this.push(text(c.take(c.i32('length'), 'BINSTRING'))); break;
      case 0x43: this.push(c.take(c.u8('length'), 'SHORT_BINBYTES').slice()); break;
      case 0x42: this.push(c.take(c.u32('length'), 'BINBYTES').slice()); break;
      case 0x8e: this.push(c.take(c.u64('length'), 'BINBYTES8').slice()); break;
      case 0x85: this.push([this.pop()]); break; // TUPLE1
      case 0x86: this.push(this.popN(2)); break; // TUPLE2
      case 0x87: this.push(this.popN(3)); break; // TUPLE3
      case 0x74: case 0x6c: this.push(this.popMark()); break; // TUPLE, LIST
      case 0x61: this.append([this.pop()]); break; // APPEND
      case 0x65: this.append(this.popMark()); break; // APPENDS
      case 0x64: this.push(this.setPairs(new Map(), this.popMark())); break; // DICT
      case 0x73: this.setItems(this.popN(2)); break; // SETITEM
      case 0x75: this.setItems(this.popMark()); break; // SETITEMS
      case 0x71: this.put(c.u8('BINPUT index')); break;
      case 0x72: this.put(c.u32('LONG_BINPUT index')); break;
      case 0x94: this.put(this.memo.size); break; // MEMOIZE
      case 0x68: this.push(this.get(c.u8('BINGET index'))); break;
      case 0x6a: this.push(this.get(c.u32('LONG_BINGET index'))); break;
      case 0x63: this.push(resolveGlobal(c.line('GLOBAL module'), c.line('GLOBAL name'))); break;
      case 0x93: this.stackGlobal(); break;
      case 0x52: { const args = this.pop(); this.push(callGlobal(this.pop(), args, this.ctx.source)); break; } // REDUCE
      case 0x81: { const args = this.pop(); this.push(newObject(this.pop(), args)); break; } // NEWOBJ
      case 0x62: { const state = this.pop(); buildObject(this.top(), state); break; } // BUILD
      case 0x51: this.push(this.ctx.source.register(storageFromPersistentId(this.pop()))); break; // BINPERSID
      case 0x4e: this.push(null); break; // NONE
      case 0x88: this.push(true); break; // NEWTRUE
      case 0x89: this.push(false); break; // NEWFALSE
      default:
        throw new PickleFault(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} ${JSON.stringify(String.fromCharCode(op))}`);
    }
    return false;
  }

  private proto(v: number): void {
    if (v < 2 || v > 5) throw new PickleFault(`unsupported pickle protocol ${v} (torch.save writes 2)`);
  }

  private frame(length: number): void {
    if (length > this.ctx.available - this.cur.pos) throw new PickleFault(`frame of ${length} bytes runs past the end of the pickle`);
  }

  private longLength(n: number): number {
    if (n < 0 || n > 1024) throw new PickleFault(`LONG4 of ${n} bytes refused (limit 1024)`);
    return n;
  }

  private push(x: Item): void {
    if (this.stack.length >= this.ctx.limits.maxStack) throw new PickleFault(`stack exceeds ${this.ctx.limits.maxStack} items`);
    if (++this.pushes > this.ctx.limits.maxItems) {
      throw new PickleFault(`pickle builds more than ${this.ctx.limits.maxItems} values (limit maxItems; no real checkpoint needs that many)`);
    }
    this.stack.push(x);
  }

  private pop(): Item {
    const floor = this.marks.length > 0 ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= floor) throw new PickleFault('stack underflow');
    return this.stack.pop() as Item;
  }

  private popN(n: number): Item[] {
    const out = new Array<Item>(n);
    for (let i = n - 1; i >= 0; i--) out[i] = this.pop();
    return out;
  }

  private top(): Item {
    const x = this.pop();
    this.stack.push(x);
    return x;
  }

  private mark(): void {
    if (this.marks.length >= this.ctx.limits.maxMarks) throw new PickleFault(`more than ${this.ctx.limits.maxMarks} nested MARKs`);
    this.marks.push(this.stack.length);
  }

  /** Items pushed since the last MARK, which is removed. */
  private popMark(): Item[] {
    const m = this.marks.pop();
    if (m === undefined) throw new PickleFault('no MARK on the stack');
    return this.stack.splice(m);
  }

  private append(items: Item[]): void {
    const list = this.top();
    if (!Array.isArray(list)) throw new PickleFault(`APPEND to ${describe(list)}`);
    for (const x of items) list.push(x);
  }

  /** Items are popped before the dict is looked at: it sits below them (and below their MARK). */
  private setItems(items: Item[]): void {
    this.setPairs(this.top(), items);
  }

  private setPairs(dict: Item, items: Item[]): ItemDict {
    if (!(dict instanceof Map)) throw new PickleFault(`SETITEM on ${describe(dict)}`);
    if (items.length % 2 !== 0) throw new PickleFault('odd number of items for SETITEMS/DICT');
    for (let i = 0; i < items.length; i += 2) dict.set(toKey(items[i]), items[i + 1]);
    return dict;
  }

  private put(index: number): void {
    if (!this.memo.has(index) && this.memo.size >= this.ctx.limits.maxMemo) {
      throw new PickleFault(`memo exceeds ${this.ctx.limits.maxMemo} entries`);
    }
    this.memo.set(index, this.top());
  }

  private get(index: number): Item {
    const x = this.memo.get(index);
    if (x === undefined) throw new PickleFault(`memo entry ${index} was never stored`);
    return x;
  }

  private stackGlobal(): void {
    const [module, name] = this.popN(2);
    if (typeof module !== 'string' || typeof name !== 'string') throw new PickleFault('STACK_GLOBAL operands must be strings');
    this.push(resolveGlobal(module, name));
  }
}
