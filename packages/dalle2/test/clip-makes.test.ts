// CLIP makes "x-clip" and "coca" through the manager and the CLI, on the fixture models
// (../shared/fixtures/clip-xclip, clip-coca, prior, decoder): where the weights come from, strict
// loading errors, text-to-image with x-clip, and coca's refusal of images. Exactness is fidelity-*.test.ts's job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, serializeSafetensors, type Runtime, type TensorsToWrite } from '@dalle2/tensor';
import { testRuntime } from '@dalle2/tensor/testing';
import { parseModelLoadConfig } from '../src/config/index.js';
import { DalleModelManager } from '../src/manager/index.js';
import { runCli, type CliIo } from '../src/cli/index.js';
import { encodePng } from '../src/image/index.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';
import { FLOAT_STORAGE, PyOrderedDict, PyTensor } from './pth/pickle.js';
import { torchZip } from './pth/torch.js';

const FX = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));
const SLOW = 600_000;
const local = (path: string) => ({ load_type: 'local', path });
const fx = (rel: string) => join(FX, rel);

let rt: Runtime;
let dir: string;
let xclipKwargs: Record<string, unknown>;
let cocaKwargs: Record<string, unknown>;

beforeAll(async () => {
  rt = await testRuntime();
  dir = await tempDir('dalle2-clip-makes-');
  xclipKwargs = JSON.parse(await readFile(fx('clip-xclip/config.json'), 'utf8')).base_model_kwargs;
  cocaKwargs = JSON.parse(await readFile(fx('clip-coca/config.json'), 'utf8')).base_model_kwargs;
});
afterAll(removeTempDirs);

const prior = (weights = fx('prior/weights.safetensors')) => ({ load_model_from: local(weights), load_config_from: local(fx('prior/config.json')), default_sample_timesteps: 2 });
const decoder = {
  unet_sources: [{ unet_numbers: [1, 2], load_model_from: local(fx('decoder/weights.safetensors')), load_config_from: local(fx('decoder/config.json')), default_sample_timesteps: [2, 2] }],
};
const xclip = (extra: Record<string, unknown> = {}) => ({ make: 'x-clip', model: 'tiny', base_model_kwargs: xclipKwargs, load_model_from: local(fx('clip-xclip/weights.safetensors')), ...extra });
const coca = (extra: Record<string, unknown> = {}) => ({ make: 'coca', model: 'tiny', base_model_kwargs: cocaKwargs, load_model_from: local(fx('clip-coca/weights.safetensors')), ...extra });

async function load(json: unknown): Promise<DalleModelManager> {
  return DalleModelManager.load(parseModelLoadConfig(json, join(dir, 'model_config.json')), { rt });
}

async function loadError(json: unknown): Promise<string> {
  const m = await load(json).catch((e: Error) => e);
  if (m instanceof DalleModelManager) {
    await m.dispose();
    throw new Error('expected the load to fail');
  }
  return m.message;
}

/** The tensors of a safetensors file, optionally renamed / filtered. */
async function tensorsOf(path: string, rename: (k: string) => string | undefined = (k) => k): Promise<TensorsToWrite> {
  const f = await SafetensorsFile.open(path);
  const out: TensorsToWrite = {};
  for (const k of f.keys()) {
    const name = rename(k);
    if (name !== undefined) out[name] = { dtype: 'F32', shape: [...f.info(k).shape], data: await f.readFloat32(k) };
  }
  await f.close();
  return out;
}

/** Host text embedding of fixed in-vocabulary tokens. */
async function embed(m: DalleModelManager): Promise<Float32Array> {
  const e = (await m.clip()).adapter.embedText(Int32Array.from([300, 301, 302, 0, 0]), 1);
  e.textEncodings.dispose();
  return e.textEmbed.toFloat32().finally(() => e.textEmbed.dispose());
}

describe('x-clip weights', () => {
  it('load from clip.load_model_from, and from clip.clip.* keys of the prior checkpoint with the same result', async () => {
    const a = await load({ prior: prior(), clip: xclip() });
    expect((await a.clip()).kind).toBe('load_model_from');
    expect(a.report().find((r) => r.kind === 'clip')!.description).toMatch(/^x-clip CLIP \(1 vision \/ 2 text layers, width 48\/64, latent 64, 32px/);
    const priorWithClip = join(dir, 'prior_with_xclip.safetensors');
    await writeFile(priorWithClip, serializeSafetensors({
      ...(await tensorsOf(fx('prior/weights.safetensors'))),
      ...(await tensorsOf(fx('clip-xclip/weights.safetensors'), (k) => `clip.clip.${k}`)),
    }));
    const b = await load({ prior: prior(priorWithClip), clip: { make: 'x-clip', base_model_kwargs: xclipKwargs } });
    expect((await b.clip()).kind).toBe('prior_checkpoint');
    expect(await embed(b)).toEqual(await embed(a));
    await a.dispose();
    await b.dispose();
  });

  it('with neither, says what to provide (never a random model)', async () => {
    const msg = await loadError({ prior: prior(), clip: { make: 'x-clip', base_model_kwargs: xclipKwargs } });
    expect(msg).toMatch(/the "x-clip" CLIP is required \(the prior embeds prompts with it\) but no weights for it were found/);
    expect(msg).toContain('clip.load_model_from');
    expect(msg).toContain('text_transformer.token_emb.weight');
    expect(msg).toContain('randomly initialised');
  });

  it('strict loading names missing, unexpected and mis-shaped keys', async () => {
    const w = await tensorsOf(fx('clip-xclip/weights.safetensors'), (k) => (k === 'to_visual_latent.weight' ? undefined : k));
    w['visual_transformer.extra.weight'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
    const path = join(dir, 'xclip_broken.safetensors');
    await writeFile(path, serializeSafetensors(w));
    const msg = await loadError({ prior: prior(), clip: xclip({ load_model_from: local(path) }) });
    expect(msg).toMatch(/x-clip CLIP state dict does not match its config: missing keys: to_visual_latent\.weight\. unexpected keys: visual_transformer\.extra\.weight/);
    const shapes = await loadError({ prior: prior(), clip: xclip({ base_model_kwargs: { ...xclipKwargs, dim_latent: 32 } }) });
    expect(shapes).toMatch(/shape mismatches: "to_text_latent\.weight" is \[64, 64\], expected \[32, 64\]/);
  });

  it('a CLIP whose latent width differs from the prior\'s image_embed_dim is named', async () => {
    const w = await tensorsOf(fx('clip-xclip/weights.safetensors'), (k) => k);
    for (const k of ['to_text_latent', 'to_visual_latent', 'to_text_latent_extra', 'to_visual_latent_extra']) {
      const t = w[`${k}.weight`];
      const cols = t.shape[1];
      w[`${k}.weight`] = { dtype: 'F32', shape: [32, cols], data: (t.data as Float32Array).slice(0, 32 * cols) };
    }
    const path = join(dir, 'xclip_latent32.safetensors');
    await writeFile(path, serializeSafetensors(w));
    const m = await load({ prior: prior(), clip: xclip({ base_model_kwargs: { ...xclipKwargs, dim_latent: 32 }, load_model_from: local(path) }) });
    await expect(m.diffusionPrior()).rejects.toThrow('clip: the "x-clip" CLIP embeds to 32 dims but the prior\'s image_embed_dim is 64');
    await m.dispose();
  });

  it('tokens outside the vocabulary are named', async () => {
    const m = await load({ prior: prior(), clip: xclip() });
    const clip = await m.clip();
    expect(() => clip.adapter.embedText(Int32Array.from([5, 49406]), 1)).toThrow(/token id 49406 at \[0, 1\] is outside the vocabulary of 512 tokens/);
    await m.dispose();
  });
});

describe('coca', () => {
  it('needs the adapter overrides in base_model_kwargs', async () => {
    const { image_size: _drop, ...rest } = cocaKwargs;
    const msg = await loadError({ prior: prior(), clip: coca({ base_model_kwargs: rest }) });
    expect(msg).toMatch(/clip\.base_model_kwargs\.image_size: is required for make "coca"/);
    const unknown = await loadError({ prior: prior(), clip: coca({ base_model_kwargs: { ...cocaKwargs, depth: 2 } }) });
    expect(unknown).toMatch(/clip\.base_model_kwargs\.depth: unknown option \(CoCa 0\.0\.6 takes/);
  });

  it('embeds text; refuses images naming the missing img_encoder', async () => {
    const m = await load({ prior: prior(), clip: coca() });
    const clip = await m.clip();
    expect(clip.make).toBe('coca');
    expect((await embed(m)).length).toBe(64);
    const { Tensor } = await import('@dalle2/tensor');
    const px = Tensor.from(rt, new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
    expect(() => clip.adapter.embedImage(px)).toThrow(/cannot embed images: CoCa\.embed_image\(images\) needs the img_encoder module/);
    px.dispose();
    await m.dispose();
  });
});

/** torch.save of a state dict (zip format); keys in `tied` share the storage of their partner, as tied parameters do. */
function pthOf(tensors: TensorsToWrite, tied: Record<string, string> = {}): Uint8Array {
  const storages: Record<string, Uint8Array> = {};
  const entries: [string, PyTensor][] = [];
  const keyOf = new Map<string, string>();
  Object.entries(tensors).forEach(([name, t], i) => {
    const shape = t.shape;
    const stride = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    const numel = shape.reduce((a, b) => a * b, 1);
    const partner = tied[name] !== undefined ? keyOf.get(tied[name]) : undefined;
    const key = partner ?? String(i);
    keyOf.set(name, key);
    if (!partner) storages[key] = new Uint8Array(Float32Array.from(t.data as ArrayLike<number>).buffer);
    entries.push([name, new PyTensor({ key, type: FLOAT_STORAGE, numel }, 0, shape, stride)]);
  });
  return torchZip(new PyOrderedDict(entries), storages);
}

describe('coca weights from a .pth', () => {
  it('an adapter state dict (keys under "clip.", tied to_logits / token_emb storage) loads like the safetensors', async () => {
    const st = await tensorsOf(fx('clip-coca/weights.safetensors'), (k) => `clip.${k}`);
    // token_emb first so that to_logits.1.weight can share its storage
    const ordered: TensorsToWrite = { 'clip.token_emb.weight': st['clip.token_emb.weight'], ...st };
    const path = join(dir, 'coca_adapter.pth');
    await writeFile(path, pthOf(ordered, { 'clip.to_logits.1.weight': 'clip.token_emb.weight' }));
    const a = await load({ prior: prior(), clip: coca({ load_model_from: local(path) }) });
    const b = await load({ prior: prior(), clip: coca() });
    expect((await a.clip()).path).toBe(path);
    expect(await embed(a)).toEqual(await embed(b));
    await a.dispose();
    await b.dispose();
  });
});

describe('CLI', () => {
  function io(): CliIo & { out: () => string; err: () => string } {
    let out = '';
    let err = '';
    return {
      cwd: dir,
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { isTTY: false, columns: 100, write: (s: string) => ((err += s), true) },
      out: () => out,
      err: () => err,
    };
  }

  it('dream: text-to-image with the x-clip fixture model and the fixture prior and decoder', { timeout: SLOW }, async () => {
    await writeFile(join(dir, 'xclip_config.json'), JSON.stringify({ clip: xclip(), prior: prior(), decoder }));
    const t = io();
    // Single-letter words: BPE ids 256..511, inside the fixture's 512-token vocabulary.
    const code = await runCli(['dream', 'a b c', '--model-config', 'xclip_config.json', '--steps', '2', '--output-path', 'xout', '--seed', '3', '-q'], t);
    expect(t.err()).toBe('');
    expect(code).toBe(0);
    expect((await readdir(join(dir, 'xout'))).filter((f) => f.endsWith('.png'))).toHaveLength(1);
  });

  it('variation with coca is refused clearly', { timeout: SLOW }, async () => {
    await writeFile(join(dir, 'coca_config.json'), JSON.stringify({ clip: coca(), decoder }));
    const img = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(128) };
    await writeFile(join(dir, 'gray.png'), await encodePng(img));
    const t = io();
    const code = await runCli(['variation', 'gray.png', '--model-config', 'coca_config.json', '--steps', '2', '--output-path', 'cout', '-q'], t);
    expect(code).toBe(1);
    expect(t.err()).toMatch(/clip make "coca" cannot embed images/);
  });
});
