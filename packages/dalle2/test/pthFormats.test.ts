import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPth, stateDict, toPlain, type PthCheckpoint, type PthTensor } from '../src/checkpoint/index.js';
import { FLOAT_STORAGE, PickleWriter, PyGlobal, PyOrderedDict, PyRaw, PyTensor, PyTuple, pickle, type Py } from './pth/pickle.js';
import { concat, f32Bytes, legacyFile, tempDir, torchZip } from './pth/torch.js';
import { buildZip, writeChunks } from './pth/zip.js';

// Crafted but valid checkpoints: format variants, strides, dtypes, version objects.
let tmp: Awaited<ReturnType<typeof tempDir>>;
const opened: PthCheckpoint[] = [];
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await tmp.cleanup();
});

async function load(name: string, bytes: Uint8Array): Promise<PthCheckpoint> {
  const ck = await readPth(await tmp.write(name, bytes));
  opened.push(ck);
  return ck;
}

const storage = (key: string, numel: number, type: PyGlobal = FLOAT_STORAGE, extra?: Py[]) => ({ key, type, numel, extra });
const values = async (t: PthTensor | undefined): Promise<number[]> => Array.from(await (t as PthTensor).readFloat32());

describe('zip format variants', () => {
  const root = new PyOrderedDict([
    ['a.weight', new PyTensor(storage('0', 3), 0, [3], [1])],
    ['a.bias', new PyTensor(storage('1', 2), 0, [2], [1])],
  ]);
  const data = { '0': f32Bytes([1, 2, 3]), '1': f32Bytes([-1, 0.5]) };

  it.each([
    ['plain', {}],
    ['renamed archive folder, deflated data.pkl, byteorder', { archive: 'my_model-v2', pklMethod: 8 as const, byteorder: 'little' }],
    ['zip64 records and extra fields', { zip64: true }],
  ])('%s', async (_, opts) => {
    const ck = await load('variant.pth', torchZip(root, data, opts));
    expect(ck.format).toBe('zip');
    const sd = ck.stateDict();
    expect([...sd.keys()]).toEqual(['a.weight', 'a.bias']);
    expect(await values(sd.get('a.weight'))).toEqual([1, 2, 3]);
    expect(await values(sd.get('a.bias'))).toEqual([-1, 0.5]);
    expect(sd.get('a.bias')?.name).toBe('a.bias');
  });

  it('reads tensors past 4 GiB of a sparse zip64 file by offset', async () => {
    const pkl = pickle(new PyOrderedDict([
      ['far', new PyTensor(storage('big', 2 ** 30 + 16), 2 ** 30 + 12, [4], [1])],
      ['after', new PyTensor(storage('1', 2), 0, [2], [1])],
    ]));
    const built = buildZip([
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/data/big', size: 2 ** 32 + 64, tail: f32Bytes([7, 8, 9, 10]) },
      { name: 'archive/data/1', data: f32Bytes([11, 12]) },
    ], { align: 64 });
    const path = tmp.path('sparse.pth');
    await writeChunks(path, built);
    const ck = await readPth(path);
    opened.push(ck);
    const sd = ck.stateDict();
    expect(await values(sd.get('far'))).toEqual([7, 8, 9, 10]);
    expect(await values(sd.get('after'))).toEqual([11, 12]);
  });
});

describe('strides, offsets and shared storages', () => {
  const t = (offset: number, shape: number[], stride: number[]) => new PyTensor(storage('s', 6), offset, shape, stride);
  let sd: Map<string, PthTensor>;
  beforeAll(async () => {
    const root = new PyOrderedDict([
      ['transposed', t(0, [3, 2], [1, 3])],
      ['every_other', t(1, [2], [2])],
      ['first_half', t(0, [3], [1])],
      ['second_half', t(3, [3], [1])],
      ['expanded', t(0, [2, 3], [0, 1])],
      ['scalar', t(5, [], [])],
      ['empty', t(0, [0, 4], [4, 1])],
      ['rows', t(1, [2, 1, 2], [3, 7, 1])],
      ['unit_dim', t(1, [2, 1, 2], [2, 7, 1])],
    ]);
    sd = (await load('strides.pth', torchZip(root, { s: f32Bytes([0, 1, 2, 3, 4, 5]) }))).stateDict();
  });

  it('materialises non-standard strides to row-major', async () => {
    expect(sd.get('transposed')?.isContiguous).toBe(false);
    expect(await values(sd.get('transposed'))).toEqual([0, 3, 1, 4, 2, 5]);
    expect(await values(sd.get('every_other'))).toEqual([1, 3]);
    expect(await values(sd.get('expanded'))).toEqual([0, 1, 2, 0, 1, 2]);
    expect(await values(sd.get('rows'))).toEqual([1, 2, 4, 5]);
  });

  it('reads several views of one storage at their offsets', async () => {
    expect(await values(sd.get('first_half'))).toEqual([0, 1, 2]);
    expect(await values(sd.get('second_half'))).toEqual([3, 4, 5]);
    expect(sd.get('first_half')?.storage.key).toBe(sd.get('second_half')?.storage.key);
    expect(await values(sd.get('scalar'))).toEqual([5]);
    expect(sd.get('scalar')?.shape).toEqual([]);
    expect(await values(sd.get('empty'))).toEqual([]);
    expect(sd.get('unit_dim')?.isContiguous).toBe(true); // size-1 dims may have any stride
    expect(await values(sd.get('unit_dim'))).toEqual([1, 2, 3, 4]);
  });
});

describe('dtypes and storage ids', () => {
  it('reads every storage dtype', async () => {
    const cases: [string, string, Uint8Array, number[], string][] = [
      ['HalfStorage', 'F16', new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer), [1, -2], 'F16'],
      ['BFloat16Storage', 'BF16', new Uint8Array(new Uint16Array([0x3f80, 0x4040]).buffer), [1, 3], 'BF16'],
      ['DoubleStorage', 'F64', new Uint8Array(Float64Array.from([0.25, -8]).buffer), [0.25, -8], 'F64'],
      ['LongStorage', 'I64', new Uint8Array(BigInt64Array.from([-3n, 2n ** 40n]).buffer), [-3, 2 ** 40], 'I64'],
      ['IntStorage', 'I32', new Uint8Array(Int32Array.from([-7, 9]).buffer), [-7, 9], 'I32'],
      ['ShortStorage', 'I16', new Uint8Array(Int16Array.from([-5, 300]).buffer), [-5, 300], 'I16'],
      ['CharStorage', 'I8', new Uint8Array(Int8Array.from([-128, 5]).buffer), [-128, 5], 'I8'],
      ['ByteStorage', 'U8', Uint8Array.from([255, 1]), [255, 1], 'U8'],
      ['BoolStorage', 'BOOL', Uint8Array.from([1, 0]), [1, 0], 'BOOL'],
    ];
    const root = new Map<string, Py>(cases.map(([cls, , , , name], i) => [name, new PyTensor(storage(String(i), 2, new PyGlobal('torch', cls)), 0, [2], [1])]));
    const ck = await load('dtypes.pth', torchZip(root, Object.fromEntries(cases.map(([, , bytes], i) => [String(i), bytes]))));
    const sd = ck.stateDict();
    for (const [, dtype, , expected, name] of cases) {
      expect(sd.get(name)?.dtype).toBe(dtype);
      expect(await values(sd.get(name)), name).toEqual(expected);
    }
    expect(await sd.get('I64')?.read()).toEqual(BigInt64Array.from([-3n, 2n ** 40n]));
  });

  it('accepts UntypedStorage, dtype globals and TypedStorage + dtype as storage types, and _rebuild_parameter', async () => {
    const f16 = new PyGlobal('torch', 'float16');
    const root = new PyOrderedDict([
      ['untyped', new PyTensor(storage('0', 4, new PyGlobal('torch', 'UntypedStorage')), 0, [4], [1])],
      ['by_dtype', new PyTensor(storage('1', 1, f16), 0, [1], [1])],
      ['typed', new PyTensor(storage('1', 1, new PyGlobal('torch.storage', 'TypedStorage'), [f16]), 0, [1], [1])],
      ['param', new PyTensor(storage('2', 1), 0, [1], [1], true)],
    ]);
    const f16bits = new Uint8Array(new Uint16Array([0x4200]).buffer);
    const sd = (await load('newer.pth', torchZip(root, { '0': Uint8Array.from([1, 2, 3, 4]), '1': f16bits, '2': f32Bytes([6]) }))).stateDict();
    expect(sd.get('untyped')?.dtype).toBe('U8');
    expect(await values(sd.get('untyped'))).toEqual([1, 2, 3, 4]);
    expect(sd.get('by_dtype')?.dtype).toBe('F16');
    expect(await values(sd.get('typed'))).toEqual([3]);
    expect(await values(sd.get('param'))).toEqual([6]);
  });
});

describe('configs and version objects', () => {
  const version = (state: Py) =>
    new PyRaw((w) => w.global('packaging.version', 'Version').op(0x29, 0x81).value(state).op(0x62));

  it('decodes config values, Size, dtype values and several version encodings', async () => {
    const looseVersion = new PyRaw((w) =>
      w.global('distutils.version', 'LooseVersion').op(0x29, 0x81).value(new Map<string, Py>([['vstring', '0.9b'], ['version', [0, 9, 'b']]])).op(0x62));
    const root = new Map<string, Py>([
      ['config', new Map<string, Py>([
        ['dim', 16], ['lr', 1e-4], ['big', 2n ** 70n], ['neg', -40000], ['name', 'ü'], ['flags', new PyTuple([true, false, null])],
        ['size', new PyRaw((w) => w.global('torch', 'Size').value(new PyTuple([new PyTuple([2, 3])])).op(0x52))],
        ['dtype', new PyGlobal('torch', 'float16')],
        ['raw', Uint8Array.from([1, 2])],
      ])],
      ['v_tuple_state', version(new PyTuple([1, new PyTuple([1, 2, 3]), new PyTuple(['rc', 1]), new PyTuple(['post', 2]), new PyTuple(['dev', 3]), new PyTuple(['abc', 5])]))],
      ['v_reduce', new PyRaw((w) => w.global('packaging.version', 'Version').value(new PyTuple(['2.0.1'])).op(0x52))],
      ['v_loose', looseVersion],
      ['version', version(new Map<string, Py>([['_version', new PyRaw((w) =>
        w.global('packaging.version', '_Version').value(new PyTuple([0, new PyTuple([1, 1, 0]), null, null, null, null])).op(0x81))]]))],
      ['model', new PyOrderedDict([['w', new PyTensor(storage('0', 1), 0, [1], [1])]])],
    ]);
    const ck = await load('config.pth', torchZip(root, { '0': f32Bytes([4]) }));
    const layout = ck.layout();
    expect(layout.kind === 'wrapped' && layout.version).toBe('1.1.0');
    expect(toPlain(ck.root)).toMatchObject({
      config: { dim: 16, lr: 1e-4, big: (2n ** 70n).toString(), neg: -40000, name: 'ü', flags: [true, false, null], size: [2, 3], dtype: 'torch.float16', raw: [1, 2] },
      v_tuple_state: '1!1.2.3rc1.post2.dev3+abc.5',
      v_reduce: '2.0.1',
      v_loose: '0.9b',
      model: { w: { dtype: 'F32', shape: [1] } },
    });
    expect([...ck.stateDict().keys()]).toEqual(['w']);
  });

  it('ignores state_dict() _metadata set by BUILD, and finds nested state dicts by path', async () => {
    const sdPickle = new PyRaw((w) => {
      w.value(new PyOrderedDict([['layer.0.w', new PyTensor(storage('0', 2), 0, [2], [1])]]));
      w.value(new Map<string, Py>([['_metadata', new PyOrderedDict([['', new Map<string, Py>([['version', 1]])]])]])).op(0x62);
    });
    const root = new Map<string, Py>([['ema', new Map<string, Py>([['inner.model', sdPickle]])], ['step', 10]]);
    const ck = await load('nested.pth', torchZip(root, { '0': f32Bytes([1, 2]) }));
    expect([...ck.stateDict().keys()]).toEqual(['ema.inner.model.layer.0.w']);
    const inner = stateDict(ck, 'ema.inner.model');
    expect([...inner.keys()]).toEqual(['layer.0.w']);
    expect(await values(inner.get('layer.0.w'))).toEqual([1, 2]);
    expect(() => stateDict(ck, 'ema.nope')).toThrow(/"ema\.nope".*no such key/);
  });

  it('handles protocol 4 opcodes: FRAME, MEMOIZE, STACK_GLOBAL, short strings and bytes', async () => {
    const w = new PickleWriter().proto(4).op(0x95).u64(64n);
    w.op(0x8c, 11).raw('collections').op(0x94); // SHORT_BINUNICODE + MEMOIZE (memo 0)
    w.op(0x8c, 11).raw('OrderedDict').op(0x94, 0x93, 0x94, 0x29, 0x52, 0x94); // STACK_GLOBAL(memo 2), REDUCE
    w.mark().op(0x8c, 1).raw('a').op(0x8d).u64(3n).raw('xyz'); // key 'a' -> BINUNICODE8 'xyz'
    w.op(0x8c, 1).raw('b').op(0x43, 2, 9, 8); // SHORT_BINBYTES
    w.op(0x8c, 1).raw('c').op(0x8e).u64(1n).op(7); // BINBYTES8
    w.op(0x8c, 1).raw('d').op(0x55, 2).raw('hi'); // SHORT_BINSTRING
    w.op(0x8c, 1).raw('e').op(0x68, 2).op(0x29, 0x52).op(0x75).stop(); // BINGET the class again
    const ck = await load('proto4.pth', torchZip(null, {}, { pkl: concat([w.bytes()]) }));
    expect(toPlain(ck.root)).toEqual({ a: 'xyz', b: [9, 8], c: [7], d: 'hi', e: {} });
  });
});

describe('legacy format', () => {
  it('reads views into a root storage (view_metadata)', async () => {
    const root = new PyOrderedDict([
      ['whole', new PyTensor(storage('k1', 4, FLOAT_STORAGE, [null]), 0, [4], [1])],
      ['view', new PyTensor(storage('k1', 2, FLOAT_STORAGE, [new PyTuple(['k1v', 2, 2])]), 1, [1], [1])],
      ['other', new PyTensor(storage('k2', 1, new PyGlobal('torch', 'LongStorage'), [null]), 0, [], [])],
    ]);
    const bytes = legacyFile(root, [['k1', 4, f32Bytes([1, 2, 3, 4])], ['k2', 8, new Uint8Array(BigInt64Array.from([42n]).buffer)]]);
    const ck = await load('legacy.pth', bytes);
    expect(ck.format).toBe('legacy');
    const sd = ck.stateDict();
    expect(await values(sd.get('whole'))).toEqual([1, 2, 3, 4]);
    expect(await values(sd.get('view'))).toEqual([4]);
    expect(await values(sd.get('other'))).toEqual([42]);
  });
});
