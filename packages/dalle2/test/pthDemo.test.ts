import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile, f16BitsToF32, f32ToF16Bits } from '@dalle2/tensor';
import { readPth, stateDict, toPlain, type PthCheckpoint, type PthTensor } from '../src/checkpoint/index.js';

// The demo model ships each checkpoint as .pth (as LAION publishes them) and as safetensors
// written from the same weights; every tensor must match exactly.
const DEMO = new URL('../../../../shared/demo-model/', import.meta.url);
const demo = (name: string): string => fileURLToPath(new URL(name, DEMO));
const haveDemo = existsSync(demo('decoder.pth'));

/** Bitwise equality of two typed arrays (vitest's deep equality is far too slow for whole checkpoints). */
function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Compares one pth tensor with the safetensors tensor of the same weights. */
async function expectSame(t: PthTensor, st: SafetensorsFile, name: string, halfRounded: boolean): Promise<void> {
  const info = st.info(name);
  expect([...t.shape], name).toEqual(info.shape);
  if (halfRounded && info.dtype === 'F32') {
    expect(t.dtype, name).toBe('F16');
    const bits = f32ToF16Bits(await st.readFloat32(name));
    expect(sameBits(await t.read(), bits), `${name} f16 bits`).toBe(true);
    expect(sameBits(await t.readFloat32(), f16BitsToF32(bits)), `${name} as f32`).toBe(true);
    return;
  }
  expect(t.dtype, name).toBe(info.dtype);
  expect(sameBits(await t.readBytes(), await st.readBytes(name)), `${name} bytes`).toBe(true);
  expect(sameBits(await t.readFloat32(), await st.readFloat32(name)), `${name} as f32`).toBe(true);
}

/** Every safetensors tensor has a pth twin with the same name, shape and values. */
async function compareAll(tensors: Map<string, PthTensor>, st: SafetensorsFile, halfRounded = false, prefix = ''): Promise<number> {
  for (const name of st.keys()) {
    const t = tensors.get(prefix + name);
    expect(t, `${prefix}${name} missing from pth`).toBeDefined();
    await expectSame(t as PthTensor, st, name, halfRounded);
  }
  return st.keys().length;
}

describe.skipIf(!haveDemo)('demo model .pth checkpoints', () => {
  const files: SafetensorsFile[] = [];
  const checkpoints: PthCheckpoint[] = [];
  let decoderSt: SafetensorsFile;
  const open = async (name: string): Promise<PthCheckpoint> => {
    const ck = await readPth(demo(name));
    checkpoints.push(ck);
    return ck;
  };

  beforeAll(async () => {
    decoderSt = await SafetensorsFile.open(demo('decoder.safetensors'));
    files.push(decoderSt);
  });
  afterAll(async () => {
    await Promise.all([...files, ...checkpoints].map((f) => f.close()));
  });

  it('prior.pth: bare state dict, fp32 prior weights plus fp16 clip.clip.* keys', async () => {
    const ck = await open('prior.pth');
    expect(ck.format).toBe('zip');
    expect(ck.layout().kind).toBe('bare');
    const sd = ck.stateDict();
    const prior = await SafetensorsFile.open(demo('prior.safetensors'));
    const clip = await SafetensorsFile.open(demo('clip.safetensors'));
    files.push(prior, clip);
    const n = (await compareAll(sd, prior)) + (await compareAll(sd, clip, false, 'clip.clip.'));
    expect(sd.size).toBe(n);
    expect([...sd.values()].filter((t) => t.dtype === 'F16').length).toBe(clip.keys().length);
  });

  it('decoder.pth: {config, version, model}', async () => {
    const ck = await open('decoder.pth');
    const layout = ck.layout();
    expect(layout.kind).toBe('wrapped');
    if (layout.kind !== 'wrapped') return;
    expect(layout.version).toBe('1.1.0');
    const sd = ck.stateDict();
    expect(sd.size).toBe(await compareAll(sd, decoderSt));
    expect([...stateDict(ck, 'model').keys()]).toEqual([...sd.keys()]);
    const config: unknown = JSON.parse(await readFile(demo('decoder_config.json'), 'utf8'));
    expect(toPlain(layout.config ?? null)).toEqual(config);
  });

  it('decoder_legacy.pth: non-zip serialization, same object', async () => {
    const ck = await open('decoder_legacy.pth');
    expect(ck.format).toBe('legacy');
    const layout = ck.layout();
    expect(layout.kind === 'wrapped' && layout.version).toBe('1.1.0');
    const sd = ck.stateDict();
    expect(sd.size).toBe(await compareAll(sd, decoderSt));
  });

  it('decoder_fp16.pth: every floating tensor is the f16-rounded value', async () => {
    const ck = await open('decoder_fp16.pth');
    const sd = ck.stateDict();
    expect(sd.size).toBe(await compareAll(sd, decoderSt, true));
  });
});
