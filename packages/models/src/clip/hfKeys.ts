// The one mapping from Hugging Face `transformers` CLIPModel key names (e.g. openai/clip-vit-large-patch14
// safetensors) to the original OpenAI names our CLIP code reads. Done on host arrays before upload:
// q/k/v projections are packed into in_proj, and projection Linear weights are transposed.
import type { HostWeight } from '../weights.js';

const TOWERS = [
  { hf: 'text_model.encoder.layers', oa: 'transformer.resblocks' },
  { hf: 'vision_model.encoder.layers', oa: 'visual.transformer.resblocks' },
];

/** Renames within one encoder layer (after the layer prefix). */
const LAYER_RENAMES: [string, string][] = [
  ['self_attn.out_proj.weight', 'attn.out_proj.weight'],
  ['self_attn.out_proj.bias', 'attn.out_proj.bias'],
  ['layer_norm1.weight', 'ln_1.weight'],
  ['layer_norm1.bias', 'ln_1.bias'],
  ['layer_norm2.weight', 'ln_2.weight'],
  ['layer_norm2.bias', 'ln_2.bias'],
  ['mlp.fc1.weight', 'mlp.c_fc.weight'],
  ['mlp.fc1.bias', 'mlp.c_fc.bias'],
  ['mlp.fc2.weight', 'mlp.c_proj.weight'],
  ['mlp.fc2.bias', 'mlp.c_proj.bias'],
];

const PLAIN: [string, string][] = [
  ['text_model.embeddings.token_embedding.weight', 'token_embedding.weight'],
  ['text_model.embeddings.position_embedding.weight', 'positional_embedding'],
  ['text_model.final_layer_norm.weight', 'ln_final.weight'],
  ['text_model.final_layer_norm.bias', 'ln_final.bias'],
  ['vision_model.embeddings.class_embedding', 'visual.class_embedding'],
  ['vision_model.embeddings.patch_embedding.weight', 'visual.conv1.weight'],
  ['vision_model.embeddings.position_embedding.weight', 'visual.positional_embedding'],
  ['vision_model.pre_layrnorm.weight', 'visual.ln_pre.weight'], // sic: HF's spelling
  ['vision_model.pre_layrnorm.bias', 'visual.ln_pre.bias'],
  ['vision_model.post_layernorm.weight', 'visual.ln_post.weight'],
  ['vision_model.post_layernorm.bias', 'visual.ln_post.bias'],
  ['logit_scale', 'logit_scale'],
];

/** Linear weights stored [out, in] by HF but used as [in, out] matrices by OpenAI. */
const TRANSPOSED: [string, string][] = [
  ['text_projection.weight', 'text_projection'],
  ['visual_projection.weight', 'visual.proj'],
];

export function isHuggingFaceClip(keys: Iterable<string>): boolean {
  for (const k of keys) if (k.startsWith('text_model.') || k.startsWith('vision_model.')) return true;
  return false;
}

function transpose2d(w: HostWeight): HostWeight {
  const [r, c] = w.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = w.data[i * c + j];
  return { shape: [c, r], data: out };
}

function concatRows(parts: HostWeight[]): HostWeight {
  const total = parts.reduce((n, p) => n + p.data.length, 0);
  const data = new Float32Array(total);
  let off = 0;
  for (const p of parts) {
    data.set(p.data, off);
    off += p.data.length;
  }
  return { shape: [parts.reduce((n, p) => n + p.shape[0], 0), ...parts[0].shape.slice(1)], data };
}

/** Converts a HF CLIPModel state dict to OpenAI key names; unknown keys are kept as-is (strict loading reports them). */
export function huggingFaceToOpenAI(src: Map<string, HostWeight>): Map<string, HostWeight> {
  const out = new Map<string, HostWeight>();
  const take = (k: string) => {
    const w = src.get(k);
    src.delete(k);
    return w;
  };
  for (const [hf, oa] of PLAIN) {
    const w = take(hf);
    if (w) out.set(oa, w);
  }
  for (const [hf, oa] of TRANSPOSED) {
    const w = take(hf);
    if (w) out.set(oa, transpose2d(w));
  }
  for (const { hf, oa } of TOWERS) {
    for (let i = 0; src.has(`${hf}.${i}.layer_norm1.weight`); i++) {
      const from = `${hf}.${i}`;
      const to = `${oa}.${i}`;
      for (const part of ['weight', 'bias']) {
        const qkv = ['q_proj', 'k_proj', 'v_proj'].map((p) => take(`${from}.self_attn.${p}.${part}`));
        if (qkv.every((w): w is HostWeight => w !== undefined)) out.set(`${to}.attn.in_proj_${part}`, concatRows(qkv));
      }
      for (const [a, b] of LAYER_RENAMES) {
        const w = take(`${from}.${a}`);
        if (w) out.set(`${to}.${b}`, w);
      }
    }
  }
  src.delete('text_model.embeddings.position_ids'); // a buffer, not a weight
  src.delete('vision_model.embeddings.position_ids');
  for (const [k, w] of src) out.set(k, w);
  return out;
}
