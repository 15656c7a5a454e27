// x-clip / CoCa pieces the fixtures do not reach: kwargs parsing and refusals, strict state-dict errors,
// the half-split rotary against a plain TS reference, and x-clip's rotary text transformer
// (text_rotary_pos_emb, absent from the fixtures) against a plain TS port of x-clip 0.7.0.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Tensor, type Runtime } from '@dalle2/tensor';
import { testRuntime, randn, randInt, expectClose } from '@dalle2/tensor/testing';
import { Weights, type HostWeight } from '../src/weights.js';
import { applyRotaryHalves, rotaryTables, checkStateDict } from '../src/clip/index.js';
import { parseXClipConfig, xclipStateDictSpec, XClipModel, type XClipConfig } from '../src/xclip/index.js';
import { parseCoCaConfig, clsMaskBias } from '../src/coca/index.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await testRuntime();
});
afterAll(async () => {
  await rt.destroy();
});

const TOL = { atol: 1e-4, rtol: 1e-4 };

/** rotate-half rotary on host rows [rows, n, D] (positions 0..n-1), first rot features. */
function rotaryRef(x: Float32Array, n: number, D: number, inv: Float32Array): Float32Array {
  const out = Float32Array.from(x);
  const half = inv.length;
  for (let r = 0; r < x.length / (n * D); r++) {
    for (let s = 0; s < n; s++) {
      const o = (r * n + s) * D;
      for (let j = 0; j < 2 * half; j++) {
        const a = Math.fround(s * inv[j % half]);
        const rot = j < half ? -x[o + j + half] : x[o + j - half];
        out[o + j] = x[o + j] * Math.cos(a) + rot * Math.sin(a);
      }
    }
  }
  return out;
}

describe('applyRotaryHalves', () => {
  for (const [D, rot] of [[10, 10], [13, 6]] as const) {
    it(`matches the reference on [3, 5, 7, ${D}] rotating ${rot} features`, async () => {
      const x = randn(3 * 5 * 7 * D, 1 + D);
      const inv = Float32Array.from({ length: rot / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / rot));
      const t = Tensor.from(rt, x, [3, 5, 7, D]);
      const tables = rotaryTables(rt, inv, 7);
      const y = applyRotaryHalves(t, tables);
      expectClose(await y.toFloat32(), rotaryRef(x, 7, D, inv), { atol: 1e-5, rtol: 1e-5 });
      for (const z of [t, y, tables.cos, tables.sin]) z.dispose();
    });
  }
});

describe('x-clip kwargs', () => {
  it('takes upstream defaults and ignores unknown keys, as CLIP(**kwargs) does', () => {
    const c = parseXClipConfig({ dim_text: 64, whatever: 1 });
    expect(c).toMatchObject({ dimText: 64, dimImage: 512, textSeqLen: 256, textDimHead: 64, visualPatchSize: 32, channels: 3, textRotaryPosEmb: false });
  });

  it('refuses options that change the state dict or need Python modules, naming the key', () => {
    expect(() => parseXClipConfig({ use_mlm: true }, 'clip.base_model_kwargs', 'cfg.json')).toThrow(/^cfg\.json: clip\.base_model_kwargs\.use_mlm: the MLM text SSL head is not supported/);
    expect(() => parseXClipConfig({ use_visual_ssl: true })).toThrow(/use_visual_ssl: visual SSL is not supported/);
    expect(() => parseXClipConfig({ visual_image_size: 30, visual_patch_size: 8 })).toThrow(/visual_patch_size: 8 must divide visual_image_size 30/);
    expect(() => parseXClipConfig({ text_has_cls_token: false, visual_has_cls_token: false })).toThrow(/CLS token must be included/);
    expect(() => parseXClipConfig({ dim_text: '64' })).toThrow(/dim_text: expected an integer >= 1, got "64" \(string\)/);
  });
});

describe('coca kwargs', () => {
  const base = { dim: 32, num_tokens: 100, unimodal_depth: 1, multimodal_depth: 1, image_size: 16, image_channels: 3, max_text_len: 20 };
  it('takes the adapter overrides out; image_dim defaults to dim', () => {
    expect(parseCoCaConfig(base)).toMatchObject({ imageDim: 32, ffInner: 128, numImgQueries: 256, dimHead: 64, heads: 8, imageSize: 16, maxTextLen: 20 });
  });

  it('names a missing override, an unknown key and img_encoder', () => {
    const { max_text_len: _m, ...noLen } = base;
    expect(() => parseCoCaConfig(noLen)).toThrow(/clip\.base_model_kwargs\.max_text_len: is required for make "coca"/);
    expect(() => parseCoCaConfig({ ...base, depth: 3 })).toThrow(/clip\.base_model_kwargs\.depth: unknown option/);
    expect(() => parseCoCaConfig({ ...base, img_encoder: 'vit' })).toThrow(/img_encoder: an image encoder is a Python module/);
    expect(() => parseCoCaConfig({ ...base, ff_mult: 0.3 })).toThrow(/ff_mult: dim \* ff_mult = 9\.6 must be a positive integer/);
  });

  it('masks pad keys in the CLS row only', () => {
    const bias = clsMaskBias(Int32Array.from([5, 0, 7]), 1, 3, 0);
    const n = 4;
    expect(Array.from(bias).filter((v) => v !== 0)).toHaveLength(1);
    expect(bias[3 * n + 1]).toBe(-3.4028234663852886e38);
  });
});

// ------------------------------------------------------------------ rotary x-clip text tower vs a TS port

const small: Record<string, unknown> = {
  dim_text: 12, dim_image: 8, dim_latent: 6, num_text_tokens: 30, text_enc_depth: 2, text_seq_len: 9, text_heads: 2, text_dim_head: 10,
  text_rotary_pos_emb: true, visual_enc_depth: 1, visual_heads: 1, visual_dim_head: 4, visual_image_size: 4, visual_patch_size: 2,
};

function randomWeights(c: XClipConfig): Map<string, HostWeight> {
  const out = new Map<string, HostWeight>();
  let seed = 100;
  for (const [k, shape] of xclipStateDictSpec(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data = randn(n, seed++, 0.3);
    if (k.endsWith('.gamma')) data = data.map((v) => 1 + v);
    if (k.endsWith('.beta')) data = new Float32Array(n); // the zero buffer of x-clip's bias-less LayerNorm
    if (k.endsWith('inv_freq')) data = Float32Array.from({ length: n }, (_, i) => 1 / 10000 ** ((2 * i) / (2 * n)));
    out.set(k, { shape: [...shape], data });
  }
  return out;
}

/** Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x < 0 ? -y : y;
}

/** Row-wise helpers over [rows, d] host arrays. */
const linear = (x: Float32Array, w: HostWeight) => {
  const [o, i] = w.shape;
  const rows = x.length / i;
  const y = new Float32Array(rows * o);
  for (let r = 0; r < rows; r++) for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) y[r * o + a] += x[r * i + b] * w.data[a * i + b];
  return y;
};
const layerNorm = (x: Float32Array, g: HostWeight) => {
  const d = g.shape[0];
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    const row = x.subarray(r * d, (r + 1) * d);
    const m = row.reduce((a, b) => a + b, 0) / d;
    const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / d;
    for (let j = 0; j < d; j++) y[r * d + j] = ((row[j] - m) / Math.sqrt(v + 1e-5)) * g.data[j];
  }
  return y;
};

/** x-clip 0.7.0 TextTransformer(tokens) with rotary, one batch row, written out loop by loop. */
function textRef(w: Map<string, HostWeight>, c: XClipConfig, tokens: number[]): Float32Array {
  const D = c.dimText;
  const n = tokens.length + 1;
  const g = (k: string) => w.get(`text_transformer.${k}`)!;
  let x = new Float32Array(n * D);
  x.set(g('cls_token').data, 0);
  tokens.forEach((t, i) => x.set(g('token_emb.weight').data.subarray(t * D, (t + 1) * D), (i + 1) * D));
  const inv = g('rotary_pos_emb.inv_freq').data;
  const h = c.textHeads;
  const dh = c.textDimHead;
  x = layerNorm(x, g('transformer.norm_in.gamma'));
  for (let l = 0; l < c.textEncDepth; l++) {
    const p = (k: string) => g(`transformer.layers.${l}.${k}`);
    const qkv = linear(layerNorm(x, p('0.norm.gamma')), p('0.fn.to_qkv.weight'));
    // [n, 3, h, dh] -> per part [h, n, dh], rotary on q (scaled), k and v
    const part = (s: number) => {
      const t = new Float32Array(h * n * dh);
      for (let i = 0; i < n; i++) for (let a = 0; a < h; a++) for (let d = 0; d < dh; d++) t[(a * n + i) * dh + d] = qkv[i * 3 * h * dh + s * h * dh + a * dh + d] * (s === 0 ? dh ** -0.5 : 1);
      return rotaryRef(t, n, dh, inv);
    };
    const [q, k, v] = [part(0), part(1), part(2)];
    const merged = new Float32Array(n * h * dh);
    for (let a = 0; a < h; a++) {
      for (let i = 0; i < n; i++) {
        const sim = Array.from({ length: n }, (_, j) => {
          let s = 0;
          for (let d = 0; d < dh; d++) s += q[(a * n + i) * dh + d] * k[(a * n + j) * dh + d];
          return s;
        });
        const mx = Math.max(...sim);
        const e = sim.map((s) => Math.exp(s - mx));
        const z = e.reduce((s, b) => s + b, 0);
        for (let d = 0; d < dh; d++) merged[i * h * dh + a * dh + d] = e.reduce((s, ej, j) => s + (ej / z) * v[(a * n + j) * dh + d], 0);
      }
    }
    const attn = layerNorm(linear(merged, p('0.fn.to_out.0.weight')), p('0.fn.to_out.1.gamma'));
    x = x.map((val, i) => val + attn[i]);
    const hidden = linear(layerNorm(x, p('1.norm.gamma')), p('1.fn.net.0.weight'));
    const inner = hidden.length / n / 2;
    const gg = new Float32Array(n * inner);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < inner; j++) {
        const gate = hidden[i * 2 * inner + inner + j];
        gg[i * inner + j] = hidden[i * 2 * inner + j] * 0.5 * gate * (1 + erf(gate / Math.SQRT2));
      }
    }
    const ff = linear(layerNorm(gg, p('1.fn.net.2.gamma')), p('1.fn.net.4.weight'));
    x = x.map((val, i) => val + ff[i]);
  }
  return layerNorm(x, g('transformer.norm_out.gamma'));
}

describe('x-clip text transformer with text_rotary_pos_emb', () => {
  it('matches a loop-by-loop port of x-clip 0.7.0 (rotary on q, k and v; CLS at position 0)', async () => {
    const c = parseXClipConfig(small);
    const host = randomWeights(c);
    const weights = Weights.fromHost(rt, host, 'random x-clip');
    const model = await XClipModel.create(weights, c);
    const tokens = Array.from(randInt(7, 5, 0, c.numTextTokens));
    const out = model.textTransformer(Int32Array.from(tokens), 1);
    expectClose(await out.toFloat32(), textRef(host, c, tokens), TOL);
    out.dispose();
    weights.dispose();
  });

  it('strict loading: the rotary model has inv_freq instead of abs_pos_emb', () => {
    const c = parseXClipConfig(small);
    const host = randomWeights(c);
    host.delete('text_transformer.rotary_pos_emb.inv_freq');
    host.set('text_transformer.abs_pos_emb.weight', { shape: [9, 12], data: new Float32Array(108) });
    host.set('to_text_latent.weight', { shape: [6, 11], data: new Float32Array(66) });
    const weights = Weights.fromHost(rt, host, 'broken.safetensors');
    expect(() => checkStateDict(weights, xclipStateDictSpec(c), 'x-clip CLIP')).toThrow(
      'broken.safetensors: x-clip CLIP state dict does not match its config: missing keys: text_transformer.rotary_pos_emb.inv_freq. ' +
        'unexpected keys: text_transformer.abs_pos_emb.weight. shape mismatches: "to_text_latent.weight" is [6, 11], expected [6, 12]',
    );
    weights.dispose();
  });
});
