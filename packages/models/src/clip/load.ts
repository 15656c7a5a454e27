// Loads CLIP weights from a safetensors file in any of the layouts we accept: original OpenAI keys,
// the same under a `clip.` / `clip.clip.` prefix (inside LAION prior checkpoints), or Hugging Face
// CLIPModel keys (mapped through hfKeys.ts).
import { SafetensorsFile, type Runtime, type DType } from '@dalle2/tensor';
import { Weights, WeightError, type HostWeight } from '../weights.js';
import { huggingFaceToOpenAI, isHuggingFaceClip } from './hfKeys.js';

const PREFIXES = ['', 'clip.', 'clip.clip.'];

/** The key prefix under which CLIP weights sit, or undefined when there are none. */
export function clipKeyPrefix(keys: readonly string[]): string | undefined {
  const set = new Set(keys);
  for (const p of PREFIXES) {
    if (set.has(`${p}visual.proj`) || set.has(`${p}text_model.embeddings.token_embedding.weight`)) return p;
  }
  return undefined;
}

/** Builds CLIP Weights from host tensors (e.g. a decoded .pth state dict). */
export function clipWeightsFromHost(rt: Runtime, entries: Map<string, HostWeight>, source: string, dtype?: DType): Weights {
  const prefix = clipKeyPrefix([...entries.keys()]);
  if (prefix === undefined) {
    throw new WeightError(`${source}: no CLIP weights found (expected OpenAI keys like "visual.proj", optionally under "clip.", or Hugging Face CLIPModel keys)`);
  }
  const own = new Map<string, HostWeight>();
  for (const [k, w] of entries) if (k.startsWith(prefix)) own.set(k.slice(prefix.length), w);
  const mapped = isHuggingFaceClip(own.keys()) ? huggingFaceToOpenAI(own) : own;
  return Weights.fromHost(rt, mapped, source, { dtype });
}

export async function loadClipWeights(rt: Runtime, path: string, dtype?: DType): Promise<Weights> {
  const file = await SafetensorsFile.open(path);
  try {
    const prefix = clipKeyPrefix(file.keys());
    const entries = new Map<string, HostWeight>();
    for (const k of file.keys()) {
      if (prefix !== undefined && !k.startsWith(prefix)) continue;
      entries.set(k, { shape: [...file.info(k).shape], data: await file.readFloat32(k) });
    }
    return clipWeightsFromHost(rt, entries, path, dtype);
  } finally {
    await file.close();
  }
}
