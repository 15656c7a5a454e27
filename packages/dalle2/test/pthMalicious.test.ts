import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PthError, readPth, type ReadPthOptions } from '../src/checkpoint/index.js';
import { FLOAT_STORAGE, PickleWriter, PyGlobal, PyOrderedDict, PyRaw, PyTensor, PyTuple, pickle, type Py } from './pth/pickle.js';
import { f32Bytes, legacyFile, tempDir, torchZip } from './pth/torch.js';
import { zipBytes } from './pth/zip.js';
import { refusedPth } from './pth/refused.js';

// Malicious and malformed checkpoints: each must fail with a PthError naming the file
// (and the key path where known), without executing or allocating anything it declares.
let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.cleanup();
});

/** Loads crafted bytes and expects a PthError whose message names the file and matches `pattern`. */
async function expectRefused(name: string, bytes: Uint8Array, pattern: RegExp, opts?: ReadPthOptions): Promise<PthError> {
  const e = await refusedPth(tmp, name, bytes, opts);
  expect(e.message.startsWith(e.file)).toBe(true);
  expect(e.message).toMatch(pattern);
  return e;
}

const zipOf = (pkl: Uint8Array, storages: Record<string, Uint8Array> = {}) => torchZip(null, storages, { pkl });
const tensor = (key: string, numel: number, offset: number, shape: number[]) =>
  new PyTensor({ key, type: FLOAT_STORAGE, numel }, offset, shape, shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1)));

describe('refused globals: nothing is executed', () => {
  const marker = () => tmp.path('pwned');
  const systemCall = (module: string, name: string, stack = false) =>
    new PyRaw((w) => {
      if (stack) w.str(module).str(name).op(0x93);
      else w.global(module, name);
      w.value(new PyTuple([`touch ${marker()}`])).op(0x52);
    });

  it('os.system GLOBAL + REDUCE in data.pkl', async () => {
    await expectRefused('os_system.pth', zipOf(pickle(new Map<string, Py>([['x', systemCall('os', 'system')]]))), /data\.pkl at byte \d+.*refusing to unpickle global "os\.system"/);
    expect(existsSync(marker())).toBe(false);
  });

  it.each([
    ['builtins', 'eval', true],
    ['posix', 'system', false],
    ['subprocess', 'Popen', true],
    ['torch', 'load', false],
    ['torch.nn.modules.linear', 'Linear', false],
    ['collections', 'defaultdict', false],
  ])('%s.%s (STACK_GLOBAL: %s)', async (module, name, stack) => {
    await expectRefused(`${name}.pth`, zipOf(pickle(systemCall(module, name, stack))), new RegExp(`refusing to unpickle global "${module}\\.${name}"`));
    expect(existsSync(marker())).toBe(false);
  });

  it('in the main pickle of a legacy file', async () => {
    await expectRefused('legacy_os.pth', legacyFile(systemCall('os', 'system'), []), /main pickle.*refusing to unpickle global "os\.system"/);
    expect(existsSync(marker())).toBe(false);
  });

  it('allowed globals used the wrong way', async () => {
    const callStorage = new PyRaw((w) => w.global('torch', 'FloatStorage').value(new PyTuple([10])).op(0x52));
    await expectRefused('call_storage.pth', zipOf(pickle(callStorage)), /REDUCE: refusing to call torch\.FloatStorage/);
    const buildOnTensorFn = new PyRaw((w) => w.global('torch._utils', '_rebuild_tensor_v2').value(new Map()).op(0x62));
    await expectRefused('build.pth', zipOf(pickle(buildOnTensorFn)), /BUILD: refusing to set state on torch\._utils\._rebuild_tensor_v2/);
    const newOrderedDictArgs = new PyRaw((w) => w.global('collections', 'OrderedDict').value(new PyTuple(['x'])).op(0x81));
    await expectRefused('newobj.pth', zipOf(pickle(newOrderedDictArgs)), /NEWOBJ: refusing to instantiate collections\.OrderedDict/);
    await expectRefused('bare_global.pth', zipOf(pickle(new Map<string, Py>([['g', new PyGlobal('collections', 'OrderedDict')]]))), /"g": unsupported object collections\.OrderedDict/);
  });
});

describe('declared sizes are checked before anything is allocated', () => {
  const huge = 2n ** 40n;
  it.each([
    ['BINBYTES8', (w: PickleWriter) => w.op(0x8e).u64(huge)],
    ['BINUNICODE8', (w: PickleWriter) => w.op(0x8d).u64(huge)],
    ['BINUNICODE', (w: PickleWriter) => w.op(0x58).u32(0xffffffff)],
    ['BINBYTES', (w: PickleWriter) => w.op(0x42).u32(0xfffffff0)],
    ['FRAME', (w: PickleWriter) => w.op(0x95).u64(huge)],
  ])('%s declaring more than the file holds', async (op, emit) => {
    const before = process.memoryUsage().arrayBuffers;
    const pkl = emit(new PickleWriter().proto(4)).raw('abc').bytes();
    await expectRefused(`${op}.pth`, zipOf(pkl), new RegExp(`${op === 'FRAME' ? 'frame' : op}.*(declares|runs past)`));
    await expectRefused(`${op}_legacy.pth`, legacyFile(pkl, []), /main pickle.*(declares|runs past)/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
  });

  it('2^40-byte BINBYTES8 names the size', async () => {
    await expectRefused('huge.pth', zipOf(new PickleWriter().proto(4).op(0x8e).u64(huge).bytes()), /BINBYTES8 declares 1099511627776 bytes but only 0 remain/);
  });

  it('limits memo, stack and nesting', async () => {
    const marks = new PickleWriter().proto(2);
    for (let i = 0; i < 20; i++) marks.mark();
    await expectRefused('marks.pth', zipOf(marks.bytes()), /more than 10 nested MARKs/, { limits: { maxMarks: 10 } });
    const memo = new PickleWriter().proto(2).op(0x4e);
    for (let i = 0; i < 5; i++) memo.binput(i);
    await expectRefused('memo.pth', zipOf(memo.bytes()), /memo exceeds 3 entries/, { limits: { maxMemo: 3 } });
    const stack = new PickleWriter().proto(2);
    for (let i = 0; i < 10; i++) stack.op(0x4e);
    await expectRefused('stack.pth', zipOf(stack.bytes()), /stack exceeds 8 items/, { limits: { maxStack: 8 } });
    const deep = new PickleWriter().proto(2);
    for (let i = 0; i < 50; i++) deep.op(0x5d);
    for (let i = 0; i < 49; i++) deep.op(0x61);
    await expectRefused('deep.pth', zipOf(deep.stop().bytes()), /nested deeper than 20 levels/, { limits: { maxDepth: 20 } });
  });

  it('a tensor bigger than maxTensorBytes (e.g. an expanded view) is refused before any read', async () => {
    const root = new PyOrderedDict([['e', new PyTensor({ key: '0', type: FLOAT_STORAGE, numel: 1 }, 0, [2 ** 20, 2 ** 20], [0, 0])]]);
    await expectRefused('expanded.pth', torchZip(root, { '0': f32Bytes([1]) }), /"e": tensor of shape \[1048576,1048576\] is 4398046511104 bytes/);
  });
});

describe('malformed archives', () => {
  const good = () => torchZip(new PyOrderedDict([['w', tensor('0', 2, 0, [2])]]), { '0': f32Bytes([1, 2]) });

  it('truncated zip', async () => {
    const bytes = good();
    await expectRefused('cut_end.pth', bytes.subarray(0, bytes.length - 10), /end-of-central-directory record not found/);
    await expectRefused('cut_half.pth', bytes.subarray(0, bytes.length >> 1), /end-of-central-directory record not found/);
    await expectRefused('cut_tiny.pth', bytes.subarray(0, 10), /zip too short/);
  });

  it('truncated demo checkpoint', async () => {
    const demo = fileURLToPath(new URL('../../../../shared/demo-model/decoder.pth', import.meta.url));
    if (!existsSync(demo)) return;
    const bytes = await readFile(demo);
    await expectRefused('demo_cut.pth', bytes.subarray(0, bytes.length - 100), /end-of-central-directory record not found|truncated|corrupt/);
  });

  it('central directory pointing past the end of the file', async () => {
    const bytes = good().slice();
    const view = new DataView(bytes.buffer);
    view.setUint32(bytes.length - 6, bytes.length + 1000, true); // EOCD: central directory offset
    await expectRefused('cd_past_end.pth', bytes, /overlaps its end record|outside the/);
  });

  it('zip without data.pkl', async () => {
    await expectRefused('no_pkl.pth', torchZip(null, { '0': f32Bytes([1]) }, { omitPkl: true }), /no <archive>\/data\.pkl entry.*"archive\/data\/0"/);
    await expectRefused('not_torch.pth', zipBytes([{ name: 'readme.txt', data: new Uint8Array(3) }]), /not a torch\.save checkpoint/);
  });

  it('storage key missing', async () => {
    const root = new Map<string, Py>([['model', new PyOrderedDict([['w', tensor('7', 2, 0, [2])]])], ['config', new Map()]]);
    const e = await expectRefused('missing_storage.pth', torchZip(root, { '0': f32Bytes([1, 2]) }), /"model\.w": storage "7" is missing/);
    expect(e.keyPath).toBe('model.w');
  });

  it('tensor extending past its storage', async () => {
    await expectRefused('past_numel.pth', torchZip(new PyOrderedDict([['a.b', tensor('0', 4, 2, [3])]]), { '0': f32Bytes([1, 2, 3, 4]) }),
      /"a\.b": F32 tensor \(offset 2, shape \[3\].*needs storage elements \[2, 5\) but storage "0" has 4 elements/);
    await expectRefused('past_bytes.pth', torchZip(new PyOrderedDict([['w', tensor('0', 8, 0, [8])]]), { '0': f32Bytes([1, 2, 3, 4]) }),
      /"w": .*storage "0" holds only 16 bytes/);
    const legacy = legacyFile(new PyOrderedDict([['w', tensor('0', 8, 0, [8])]]), [['0', 4, f32Bytes([1, 2])]]);
    await expectRefused('past_legacy.pth', legacy, /"w": .*storage "0" holds only 8 bytes/);
  });

  it('unsupported opcode', async () => {
    await expectRefused('ext1.pth', zipOf(new PickleWriter().proto(2).op(0x82, 1).stop().bytes()), /at byte 2 \(opcode 0x82\): unsupported pickle opcode 0x82/);
    await expectRefused('inst.pth', zipOf(new PickleWriter().proto(2).op(0x69).raw('os\nsystem\n').stop().bytes()), /unsupported pickle opcode 0x69 "i"/);
    await expectRefused('proto0.pth', zipOf(new PickleWriter().op(0x49).raw('1\n').stop().bytes()), /unsupported pickle opcode 0x49/);
  });

  it('other structural faults', async () => {
    await expectRefused('underflow.pth', zipOf(new PickleWriter().proto(2).op(0x61).bytes()), /stack underflow/);
    await expectRefused('binget.pth', zipOf(new PickleWriter().proto(2).binget(3).stop().bytes()), /memo entry 3 was never stored/);
    await expectRefused('no_stop.pth', zipOf(new PickleWriter().proto(2).op(0x4e).bytes()), /opcode declares 1 bytes but only 0 remain/);
    await expectRefused('list_key.pth', zipOf(new PickleWriter().proto(2).op(0x7d, 0x5d, 0x4e, 0x73).stop().bytes()), /unsupported dict key of type tuple\/list/);
    const cyclic = new PickleWriter().proto(2).op(0x5d).binput(0).binget(0).op(0x61).stop().bytes();
    await expectRefused('cyclic.pth', zipOf(cyclic), /"0": cyclic reference/);
    await expectRefused('compressed.pth', torchZip(new PyOrderedDict([['w', tensor('0', 2, 0, [2])]]), { '0': f32Bytes([1, 2]) }, { storageMethod: 8 }),
      /"w": storage entry "archive\/data\/0" is compressed/);
    await expectRefused('big_endian.pth', torchZip(null, {}, { byteorder: 'big' }), /only little-endian/);
    await expectRefused('random.pth', Uint8Array.from([1, 2, 3, 4, 5]), /not a torch checkpoint/);
    await expectRefused('proto9.pth', zipOf(new PickleWriter().proto(9).stop().bytes()), /unsupported pickle protocol 9/);
  });

  it('malformed legacy files', async () => {
    const bytes = legacyFile(new PyOrderedDict([['w', tensor('0', 2, 0, [2])]]), [['0', 4, f32Bytes([1, 2])]]);
    await expectRefused('legacy_cut.pth', bytes.subarray(0, bytes.length - 4), /storage "0" declares 2 elements but only 4 bytes remain/);
    const badMagic = bytes.slice();
    badMagic[4] ^= 0xff; // first byte of the LONG1 payload
    await expectRefused('legacy_magic.pth', badMagic, /invalid magic number/);
    await expectRefused('legacy_short.pth', bytes.subarray(0, 40), /declares|remain/);
  });
});
