// Hostile pickles (the shapes issue 15 found) and random opcode splices into a real data.pkl.
import { concat } from './bytes.js';
import type { Rng } from './rng.js';

class Ops {
  readonly out: number[] = [];
  op(...b: number[]): this {
    for (const x of b) this.out.push(x & 0xff);
    return this;
  }
  u32(n: number): this {
    return this.op(n, n >>> 8, n >>> 16, n >>> 24);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    if (n >= -(2 ** 31) && n < 2 ** 31) return this.op(0x4a).u32(n >>> 0);
    let v = BigInt(n);
    const bytes: number[] = [];
    do {
      bytes.push(Number(v & 0xffn));
      v >>= 8n;
    } while (v !== 0n && v !== -1n);
    if ((bytes[bytes.length - 1] & 0x80) !== 0 && n > 0) bytes.push(0);
    return this.op(0x8a, bytes.length, ...bytes);
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58).u32(b.length).op(...b);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  tuple(items: number[]): this {
    this.op(0x28);
    for (const x of items) this.int(x);
    return this.op(0x74);
  }
  /** `_rebuild_tensor_v2(storage key, offset, shape, stride, False, OrderedDict())`. */
  tensor(key: string, numel: number, offset: number, shape: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').op(0x28);
    this.op(0x28).str('storage').global('torch', 'FloatStorage').str(key).str('cpu').int(numel).op(0x74, 0x51);
    this.int(offset).tuple(shape).tuple(stride).op(0x89);
    return this.global('collections', 'OrderedDict').op(0x29, 0x52).op(0x74, 0x52);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

const pkl = (body: (w: Ops) => void): Uint8Array => {
  const w = new Ops().op(0x80, 2);
  body(w);
  return w.op(0x2e).bytes();
};

/** L0 = [x]; L(i) = [L(i-1), L(i-1)] through the memo. */
function sharedLists(w: Ops, depth: number, leaf: (w: Ops) => void): void {
  w.op(0x5d);
  leaf(w);
  w.op(0x61, 0x71, 0);
  for (let i = 1; i <= depth; i++) w.op(0x30, 0x5d, 0x28, 0x68, (i - 1) & 0xff, 0x68, (i - 1) & 0xff, 0x65, 0x71, i & 0xff);
}

/** One of the hostile data.pkl shapes; storage "0" (of `storage0Elements` F32s) must exist in the archive. */
export function hostilePickle(rng: Rng, storage0Elements: number): { kind: string; bytes: Uint8Array } {
  const kinds = ['shared-state', 'shared-config', 'growth', 'growth-dicts', 'long-string', 'big-bytes', 'stride0', 'overlap', 'deep', 'proto-key', 'memo', 'many-views'] as const;
  const kind = rng.pick(kinds);
  const bytes = ((): Uint8Array => {
    switch (kind) {
      case 'shared-state':
        return pkl((w) => sharedLists(w, rng.int(20, 60), (x) => x.tensor('0', 1, 0, [1], [1])));
      case 'shared-config':
        return pkl((w) => {
          w.op(0x7d).str('config');
          sharedLists(w, rng.int(20, 60), (x) => x.str('x'));
          w.op(0x73).str('model').op(0x7d).str('w').tensor('0', 1, 0, [1], [1]).op(0x73, 0x73);
        });
      case 'growth':
      case 'growth-dicts': {
        const n = rng.int(100_000, 3_000_000);
        const unit = kind === 'growth' ? [0x4e, 0x61] : [0x7d, 0x61];
        const body = new Uint8Array(n * 2);
        for (let i = 0; i < n; i++) body.set(unit, 2 * i);
        return concat([Uint8Array.of(0x80, 2, 0x5d), body, Uint8Array.of(0x2e)]);
      }
      case 'long-string': {
        const w = new Ops().op(0x80, 4, rng.pick([0x8d, 0x58]));
        const n = rng.pick([600_000_000, 2 ** 32 - 1, 2 ** 29]);
        w.u32(n >>> 0);
        if (w.out[2] === 0x8d) w.u32(Math.floor(n / 2 ** 32));
        return w.op(...new Array<number>(rng.int(0, 64)).fill(0x41), 0x2e).bytes();
      }
      case 'big-bytes': {
        // Real bytes, a few MB each, several times: bounded by the pickle's own size.
        const each = rng.int(1, 4) * 2 ** 20;
        const parts: Uint8Array[] = [Uint8Array.of(0x80, 2, 0x5d)];
        for (let i = 0; i < rng.int(1, 4); i++) {
          const head = new Uint8Array(5);
          head[0] = 0x42;
          new DataView(head.buffer).setUint32(1, each, true);
          parts.push(head, new Uint8Array(each), Uint8Array.of(0x61));
        }
        parts.push(Uint8Array.of(0x2e));
        return concat(parts);
      }
      case 'stride0':
        return pkl((w) => w.op(0x7d).str('w').tensor('0', 1, 0, [rng.pick([2 ** 26, 2 ** 28, 2 ** 30]), rng.pick([1, 2 ** 8, 2 ** 15])], [0, 0]).op(0x73));
      case 'overlap':
        return pkl((w) => w.op(0x7d).str('w').tensor('0', 4, rng.int(0, 4), [rng.int(1, 2 ** 20), 4], [1, 1]).op(0x73));
      case 'deep': {
        const n = rng.int(1000, 200_000);
        return concat([Uint8Array.of(0x80, 2), new Uint8Array(n).fill(0x5d), new Uint8Array(n - 1).fill(0x61), Uint8Array.of(0x2e)]);
      }
      case 'proto-key':
        return pkl((w) => w.op(0x7d).str('config').op(0x7d).str('__proto__').op(0x7d).str('polluted').int(1).op(0x73, 0x73).op(0x73).str('model').op(0x7d).op(0x73));
      case 'many-views': // one storage viewed whole under many names
        return pkl((w) => {
          w.op(0x7d, 0x28);
          for (let i = 0; i < rng.int(100, 5000); i++) w.str(`w${i}`).tensor('0', storage0Elements, 0, [storage0Elements], [1]);
          w.op(0x75);
        });
      default: { // memo abuse: many LONG_BINPUTs of one object at scattered indices
        const w = new Ops().op(0x80, 2, 0x5d);
        for (let i = 0; i < rng.int(1000, 100_000); i++) w.op(0x72).u32(rng.int(0, 2 ** 32));
        return w.op(0x2e).bytes();
      }
    }
  })();
  return { kind, bytes };
}

/** Opcodes (with small random operands) spliced into a real pickle to break its stack discipline. */
export function spliceOpcodes(rng: Rng, pickle: Uint8Array): Uint8Array {
  const pieces: number[][] = [
    [0x28], [0x30], [0x31], [0x5d], [0x7d], [0x29], [0x61], [0x65], [0x73], [0x75], [0x74], [0x85], [0x86], [0x87], [0x52], [0x81], [0x62],
    [0x51], [0x4e], [0x88], [0x89], [0x94], [0x93], [0x2e], [0x68, 0], [0x68, 200], [0x71, 3], [0x4b, 7], [0x4a, 0xff, 0xff, 0xff, 0x7f],
    [0x8a, 1, 0x80], [0x8c, 3, 0x61, 0x62, 0x63], [0x43, 2, 1, 2], [0x95, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
    [0x63, ...new TextEncoder().encode('torch._utils\n_rebuild_tensor_v2\n')], [0x63, ...new TextEncoder().encode('os\nsystem\n')],
    [0x63, ...new TextEncoder().encode('collections\nOrderedDict\n')], [0x63, ...new TextEncoder().encode('torch\nFloatStorage\n')],
  ];
  const ops: number[] = [];
  for (let i = 0; i < rng.int(1, 12); i++) ops.push(...rng.pick(pieces));
  const at = rng.int(2, Math.max(3, pickle.length - 1));
  return concat([pickle.subarray(0, at), Uint8Array.from(ops), pickle.subarray(at)]);
}
