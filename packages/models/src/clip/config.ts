// CLIP architecture read off the weights alone, as openai/CLIP `build_model(state_dict)` does.
import type { Weights } from '../weights.js';
import { WeightError } from '../weights.js';

export interface ClipConfig {
  embedDim: number;
  contextLength: number;
  vocabSize: number;
  textWidth: number;
  textHeads: number;
  textLayers: number;
  visionWidth: number;
  visionHeads: number;
  visionLayers: number;
  patchSize: number;
  imageResolution: number;
}

/** Counts `<prefix>.<N>.` block indices among the keys. */
function countBlocks(keys: string[], prefix: string): number {
  const ids = new Set<number>();
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const n = Number(k.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(n)) ids.add(n);
  }
  return ids.size;
}

export function inferClipConfig(w: Weights): ClipConfig {
  if (!w.has('visual.proj')) {
    const resnet = w.has('visual.layer1.0.conv1.weight');
    throw new WeightError(
      `${w.source}: ${resnet ? 'ResNet CLIP visual towers are not supported (only ViT)' : 'no "visual.proj": not OpenAI ViT CLIP weights'}`,
    );
  }
  const keys = w.keys();
  const conv = w.shapeOf('visual.conv1.weight'); // [width, 3, patch, patch]
  const gridSq = w.shapeOf('visual.positional_embedding')[0] - 1;
  const grid = Math.round(Math.sqrt(gridSq));
  if (grid * grid !== gridSq) throw new WeightError(`${w.source}: visual.positional_embedding has ${gridSq + 1} rows, not 1 + grid^2`);
  const textWidth = w.shapeOf('ln_final.weight')[0];
  const visionWidth = conv[0];
  return {
    embedDim: w.shapeOf('text_projection')[1],
    contextLength: w.shapeOf('positional_embedding')[0],
    vocabSize: w.shapeOf('token_embedding.weight')[0],
    textWidth,
    // Upstream derives heads as width // 64 for both towers.
    textHeads: Math.max(1, Math.floor(textWidth / 64)),
    textLayers: countBlocks(keys, 'transformer.resblocks.'),
    visionWidth,
    visionHeads: Math.max(1, Math.floor(visionWidth / 64)),
    visionLayers: countBlocks(keys, 'visual.transformer.resblocks.'),
    patchSize: conv[3],
    imageResolution: conv[3] * grid,
  };
}
