import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PthError, readPth, toPlain, type ReadPthOptions } from '../src/checkpoint/index.js';
import { FLOAT_STORAGE, PickleWriter, PyOrderedDict, PyRaw, PyTensor, pickle, type Py } from './pth/pickle.js';
import { refusedPth } from './pth/refused.js';
import { f32Bytes, tempDir, torchZip } from './pth/torch.js';

// Hostile checkpoints from the fuzz campaign (issue 15): each input is built here, small, and must end
// in a PthError naming the file, quickly and without allocating what it declares.
let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.cleanup();
});

function refusal(name: string, bytes: Uint8Array, opts?: ReadPthOptions): Promise<PthError> {
  return refusedPth(tmp, name, bytes, opts);
}

const tensor = (numel: number, shape: number[], stride: number[]) => new PyTensor({ key: '0', type: FLOAT_STORAGE, numel }, 0, shape, stride);

/** L0 = [leaf]; L(i) = [L(i-1), L(i-1)] via the memo: 2^depth paths in a few hundred bytes. */
function sharedLists(depth: number, leaf: Py): PyRaw {
  return new PyRaw((w) => {
    w.op(0x5d).value(leaf).op(0x61).binput(0);
    for (let i = 1; i <= depth; i++) w.op(0x30, 0x5d).mark().binget(i - 1).binget(i - 1).op(0x65).binput(i); // POP the previous list first
  });
}

describe('shared sub-objects (class 1)', () => {
  it('the state-dict walk visits each container once', async () => {
    const path = await tmp.write('shared_sd.pth', torchZip(sharedLists(40, tensor(1, [1], [1])), { '0': f32Bytes([1]) }));
    const t0 = Date.now();
    const ck = await readPth(path);
    try {
      const sd = ck.stateDict();
      expect(sd.size).toBe(1);
      expect([...sd.keys()][0]).toBe(Array.from({ length: 41 }, () => '0').join('.'));
    } finally {
      await ck.close();
    }
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('toPlain bounds the expansion of a shared config and names the file', async () => {
    const root = new Map<string, Py>([
      ['config', sharedLists(40, 'x')],
      ['model', new PyOrderedDict([['w', tensor(1, [1], [1])]])],
    ]);
    const path = await tmp.write('shared_cfg.pth', torchZip(root, { '0': f32Bytes([1]) }));
    const ck = await readPth(path);
    try {
      const layout = ck.layout();
      expect(layout.kind).toBe('wrapped');
      const config = layout.kind === 'wrapped' ? (layout.config ?? null) : null;
      expect(() => toPlain(config, { file: path })).toThrow(PthError);
      expect(() => toPlain(config, { file: path })).toThrow(new RegExp(`^${path}: .*expands to more than 100000 values`));
      // A small share is still copied faithfully.
      const small = new Map<string, Py>([['config', sharedLists(3, 'x')], ['model', new PyOrderedDict([])]]);
      const ck2 = await readPth(await tmp.write('shared_small.pth', torchZip(small, {})));
      const l2 = ck2.layout();
      expect(JSON.stringify(toPlain(l2.kind === 'wrapped' ? (l2.config ?? null) : null))).toBe('[[[["x"],["x"]],[["x"],["x"]]],[[["x"],["x"]],[["x"],["x"]]]]');
      await ck2.close();
    } finally {
      await ck.close();
    }
  });

  it('a "__proto__" config key stays an ordinary key', async () => {
    const root = new Map<string, Py>([['config', new Map<string, Py>([['__proto__', new Map<string, Py>([['polluted', 1]])], ['a', 2]])], ['model', new PyOrderedDict([])]]);
    const ck = await readPth(await tmp.write('proto.pth', torchZip(root, {})));
    const l = ck.layout();
    const plain = toPlain(l.kind === 'wrapped' ? (l.config ?? null) : null) as Record<string, unknown>;
    await ck.close();
    expect(Object.keys(plain)).toEqual(['__proto__', 'a']);
    expect(plain.polluted).toBeUndefined();
    expect(JSON.stringify(plain)).toBe('{"__proto__":{"polluted":1},"a":2}');
  });
});

describe('what a pickle may build (class 2)', () => {
  it('APPEND/EMPTY_DICT growth stops at maxItems', async () => {
    const w = new PickleWriter().proto(2).op(0x5d);
    for (let i = 0; i < 3000; i++) w.op(0x7d, 0x61);
    const e = await refusal('grow.pth', torchZip(null, {}, { pkl: w.stop().bytes() }), { limits: { maxItems: 2000 } });
    expect(e.message).toMatch(/builds more than 2000 values/);
  });

  it('a deflated data.pkl of ~1M tiny objects is refused under the default limits', async () => {
    const ops = new Uint8Array(2 * (1 << 21) + 4);
    ops.set([0x80, 2, 0x5d]);
    for (let i = 3; i + 1 < ops.length - 1; i += 2) ops.set([0x7d, 0x61], i);
    ops[ops.length - 1] = 0x2e;
    const bytes = torchZip(null, {}, { pkl: ops, pklMethod: 8 });
    expect(bytes.length).toBeLessThan(64 * 1024);
    const before = process.memoryUsage().rss;
    const e = await refusal('grow_deflated.pth', bytes);
    expect(e.message).toMatch(/builds more than 1048576 values/);
    expect(process.memoryUsage().rss - before).toBeLessThan(600 * 2 ** 20);
  });

  it('an inflated data.pkl larger than maxPickleBytes is refused before inflating', async () => {
    const big = new Uint8Array(3000);
    const e = await refusal('big_pkl.pth', torchZip(null, {}, { pkl: big, pklMethod: 8 }), { limits: { maxPickleBytes: 2000 } });
    expect(e.message).toMatch(/data\.pkl" is 3000 bytes \(limit 2000\)/);
  });
});

describe('overlapping views (class 3)', () => {
  it('a stride-0 view larger than its storage is refused before any read', async () => {
    const root = new PyOrderedDict([['w', tensor(1, [2 ** 15, 2 ** 15], [0, 0])]]);
    const e = await refusal('stride0.pth', torchZip(root, { '0': f32Bytes([1]) }));
    expect(e.keyPath).toBe('w');
    expect(e.message).toMatch(/is 4294967296 bytes but storage "0" holds only 4; overlapping views/);
  });

  it('many views of one storage may not add up to far more than the file', async () => {
    const n = 2 ** 18; // 1 MiB of F32
    const views = Array.from({ length: 100 }, (_, i): [string, Py] => [`w${i}`, tensor(n, [n], [1])]);
    const e = await refusal('many_views.pth', torchZip(new PyOrderedDict(views), { '0': new Uint8Array(4 * n) }));
    expect(e.message).toMatch(/tensors view more than \d+ bytes in all \(a \d+-byte file/);
    expect(e.keyPath).toMatch(/^w\d+$/);
    // Tied weights (a few views of one storage) are fine.
    const tied = await readPth(await tmp.write('tied.pth', torchZip(new PyOrderedDict(views.slice(0, 3)), { '0': new Uint8Array(4 * n) })));
    expect(tied.stateDict().size).toBe(3);
    await tied.close();
  });

  it('a stride-0 view within its storage still reads (expanded small buffer)', async () => {
    const root = new PyOrderedDict([['w', tensor(4, [2, 2], [0, 1])]]);
    const ck = await readPth(await tmp.write('stride0_ok.pth', torchZip(root, { '0': f32Bytes([1, 2, 3, 4]) })));
    expect([...(await ck.stateDict().get('w')!.readFloat32())]).toEqual([1, 2, 1, 2]);
    await ck.close();
  });
});

/** Offsets of the local and central records of entry `name` in a zip we built. */
function records(bytes: Uint8Array, name: string): { local: number; central: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const enc = new TextEncoder().encode(name);
  const at = (p: number, len: number) => bytes.length >= p + len && enc.every((b, i) => bytes[p + i] === b) && len === enc.length;
  let local = -1;
  let central = -1;
  for (let p = 0; p + 46 <= bytes.length; p++) {
    const sig = view.getUint32(p, true);
    if (sig === 0x04034b50 && at(p + 30, view.getUint16(p + 26, true))) local = p;
    if (sig === 0x02014b50 && at(p + 46, view.getUint16(p + 28, true))) central = p;
  }
  if (local < 0 || central < 0) throw new Error(`no records for ${name}`);
  return { local, central };
}

describe('local headers vs central directory (class 4)', () => {
  const good = () => torchZip(new PyOrderedDict([['w', tensor(2, [2], [1])]]), { '0': f32Bytes([1, 2]), '1': f32Bytes([3, 4]) });

  async function readW(name: string, bytes: Uint8Array): Promise<PthError> {
    const path = await tmp.write(name, bytes);
    const err = await readPth(path).then(
      async (ck) => {
        try {
          await ck.stateDict().get('w')!.readFloat32();
          return undefined;
        } catch (e) {
          return e;
        } finally {
          await ck.close();
        }
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PthError);
    expect((err as PthError).file).toBe(path);
    return err as PthError;
  }

  it('a local header naming another entry', async () => {
    const bytes = good().slice();
    const { local } = records(bytes, 'archive/data/0');
    bytes[local + 30 + 'archive/data/'.length] = '1'.charCodeAt(0);
    expect((await readW('local_name.pth', bytes)).message).toMatch(/"archive\/data\/0": local header names it "archive\/data\/1"/);
  });

  it('a central size reaching into the next entry', async () => {
    const bytes = good().slice();
    const view = new DataView(bytes.buffer);
    const { central } = records(bytes, 'archive/data/0');
    view.setUint32(central + 20, 200, true);
    view.setUint32(central + 24, 200, true);
    expect((await refusal('central_size.pth', bytes)).message).toMatch(/"archive\/data\/0" .*overlaps entry "archive\/data\/1"/);
  });

  it('a local size disagreeing with the central directory', async () => {
    const bytes = good().slice();
    const { local } = records(bytes, 'archive/data/0');
    new DataView(bytes.buffer).setUint32(local + 22, 4, true);
    expect((await readW('local_size.pth', bytes)).message).toMatch(/local header size 4 != central directory 8/);
  });

  it('a stored entry whose declared size exceeds its stored bytes', async () => {
    const bytes = good().slice();
    const view = new DataView(bytes.buffer);
    const { local, central } = records(bytes, 'archive/data/0');
    view.setUint32(central + 24, 16, true);
    view.setUint32(local + 22, 16, true);
    expect((await readW('stored_size.pth', bytes)).message).toMatch(/declares 16 bytes but holds 8/);
  });
});
