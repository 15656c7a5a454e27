/**
 * Tiny pickle writer for crafting test checkpoints: raw opcodes plus `value()`, which
 * emits a Python-ish value tree the way torch.save's pickler would (protocol 2).
 */

export class PyTuple {
  constructor(readonly items: Py[]) {}
}

/** A Python global reference (`module.name`), emitted with GLOBAL. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}

/** `collections.OrderedDict` (REDUCE of an empty tuple, then SETITEMS). */
export class PyOrderedDict {
  constructor(readonly entries: [string | number, Py][]) {}
}

/** A tensor as `_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())`. */
export class PyTensor {
  constructor(
    readonly storage: { key: string; type: PyGlobal; numel: number; extra?: Py[] },
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly parameter = false,
  ) {}
}

/** Escape hatch: arbitrary opcodes at this point of the tree. */
export class PyRaw {
  constructor(readonly emit: (w: PickleWriter) => void) {}
}

export type Py = null | boolean | number | bigint | string | Uint8Array | Py[] | PyTuple | PyGlobal | Map<string | number, Py> | PyOrderedDict | PyTensor | PyRaw;

export class PickleWriter {
  private readonly out: number[] = [];

  op(...bytes: number[]): this {
    for (const b of bytes) this.out.push(b & 0xff);
    return this;
  }

  u32(n: number): this {
    return this.op(n, n >>> 8, n >>> 16, n >>> 24);
  }

  u64(n: bigint): this {
    for (let i = 0n; i < 8n; i++) this.op(Number((n >> (8n * i)) & 0xffn));
    return this;
  }

  raw(bytes: Uint8Array | string): this {
    const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
    for (const x of b) this.out.push(x);
    return this;
  }

  proto(n = 2): this {
    return this.op(0x80, n);
  }

  stop(): this {
    return this.op(0x2e);
  }

  mark(): this {
    return this.op(0x28);
  }

  int(n: number | bigint): this {
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 256) return this.op(0x4b, n);
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 65536) return this.op(0x4d, n, n >>> 8);
    if (typeof n === 'number' && Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31) return this.op(0x4a).u32(n >>> 0);
    return this.long(BigInt(n));
  }

  /** LONG1: little-endian two's complement, minimal length. */
  long(n: bigint): this {
    const bytes: number[] = [];
    let v = n;
    for (;;) {
      bytes.push(Number(v & 0xffn));
      v >>= 8n;
      const sign = (bytes[bytes.length - 1] & 0x80) !== 0;
      if ((v === 0n && !sign) || (v === -1n && sign)) break;
    }
    return this.op(0x8a, bytes.length, ...bytes);
  }

  float(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return this.op(0x47).raw(b);
  }

  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58).u32(b.length).raw(b);
  }

  global(module: string, name: string): this {
    return this.op(0x63).raw(`${module}\n${name}\n`);
  }

  binput(i: number): this {
    return this.op(0x71, i);
  }

  binget(i: number): this {
    return this.op(0x68, i);
  }

  /** Emits one value (see the Py* classes). */
  value(v: Py): this {
    if (v === null) return this.op(0x4e);
    if (typeof v === 'boolean') return this.op(v ? 0x88 : 0x89);
    if (typeof v === 'bigint') return this.long(v);
    if (typeof v === 'number') return Number.isInteger(v) ? this.int(v) : this.float(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof Uint8Array) return this.op(0x42).u32(v.length).raw(v);
    if (v instanceof PyRaw) {
      v.emit(this);
      return this;
    }
    if (v instanceof PyGlobal) return this.global(v.module, v.name);
    if (v instanceof PyTuple) return this.mark().values(v.items).op(0x74);
    if (Array.isArray(v)) return this.op(0x5d).mark().values(v).op(0x65);
    if (v instanceof Map) return this.op(0x7d).mark().pairs([...v]).op(0x75);
    if (v instanceof PyOrderedDict) return this.global('collections', 'OrderedDict').op(0x29, 0x52).mark().pairs(v.entries).op(0x75);
    return this.tensor(v);
  }

  private values(items: Py[]): this {
    for (const x of items) this.value(x);
    return this;
  }

  private pairs(entries: [string | number, Py][]): this {
    for (const [k, x] of entries) this.value(k).value(x);
    return this;
  }

  private tensor(t: PyTensor): this {
    if (t.parameter) this.global('torch._utils', '_rebuild_parameter').mark();
    const { key, type, numel, extra = [] } = t.storage;
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.value(new PyTuple(['storage', type, key, 'cpu', numel, ...extra])).op(0x51);
    this.value(t.offset).value(new PyTuple(t.shape)).value(new PyTuple(t.stride)).value(false);
    this.value(new PyOrderedDict([])).op(0x74, 0x52);
    if (t.parameter) this.value(true).value(new PyOrderedDict([])).op(0x74, 0x52);
    return this;
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/** A complete protocol-2 pickle of `v`. */
export function pickle(v: Py): Uint8Array {
  return new PickleWriter().proto(2).value(v).stop().bytes();
}

export const FLOAT_STORAGE = new PyGlobal('torch', 'FloatStorage');
