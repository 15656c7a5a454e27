// The prior's text conditioning: what reaches the net (encodings only when
// condition_on_text_encodings) and DiffusionPrior.sample's 'b ... -> (b r) ...' repetition.
import { repeatRows, type Tensor } from '@dalle2/tensor';
import type { DiffusionPriorConfig } from './config.js';
import type { PriorNetInputs, PriorTextCond, PriorTextEncoder, PriorTextInput, PriorTokenInput } from './types.js';

/** The net's conditioning inputs. */
export type NetCond = Omit<PriorNetInputs, 'imageEmbed' | 'timesteps'>;

/** Repeated conditioning plus the tensors this call created (to free afterwards). */
export interface RepeatedCond {
  inputs: NetCond;
  owned: Tensor[];
  /** Texts B (before repetition). */
  batch: number;
}

/** Host version of repeatRows for token ids [batch, L]. */
export function repeatTokenRows(tokens: Int32Array, batch: number, r: number): Int32Array {
  if (batch < 1 || tokens.length % batch !== 0) throw new Error(`repeatTokenRows: ${tokens.length} ids do not split into ${batch} rows`);
  const L = tokens.length / batch;
  const out = new Int32Array(tokens.length * r);
  for (let b = 0; b < batch; b++) {
    const row = tokens.subarray(b * L, (b + 1) * L);
    for (let k = 0; k < r; k++) out.set(row, (b * r + k) * L);
  }
  return out;
}

function isTokenInput(t: PriorTextInput): t is PriorTokenInput {
  return 'tokens' in t;
}

/** The net's text conditioning: text encodings only when condition_on_text_encodings. */
export function netCond(config: DiffusionPriorConfig, cond: PriorTextCond): NetCond {
  const out: NetCond = { textEmbed: cond.textEmbed };
  if (config.conditionOnTextEncodings && cond.textEncodings) {
    out.textEncodings = cond.textEncodings;
    if (cond.textMask) out.textMask = cond.textMask;
  }
  return out;
}

/** Text conditioning repeated r times per text ('b ... -> (b r) ...'). */
export function repeatedCond(config: DiffusionPriorConfig, clip: PriorTextEncoder | undefined, text: PriorTextInput, r: number): RepeatedCond {
  if (isTokenInput(text)) {
    if (!clip) throw new Error('DiffusionPrior.sample: token input needs a CLIP adapter (DiffusionPriorOptions.clip)');
    // upstream repeats the tokens and embeds the repeated batch
    const tokens = repeatTokenRows(text.tokens, text.batch, r);
    const e = clip.embedText(tokens, text.batch * r);
    e.textEmbed.keep();
    e.textEncodings.keep();
    return { inputs: { textEmbed: e.textEmbed, textEncodings: e.textEncodings }, owned: [e.textEmbed, e.textEncodings], batch: text.batch };
  }
  const B = text.textEmbed.shape[0];
  const D = config.imageEmbedDim;
  if (text.textEmbed.rank !== 2 || text.textEmbed.shape[1] !== D) {
    throw new Error(`DiffusionPrior.sample: textEmbed [${text.textEmbed.shape.join(', ')}] must be [B, ${D}]`);
  }
  for (const [name, t] of [['textEncodings', text.textEncodings], ['textMask', text.textMask]] as const) {
    if (t && t.shape[0] !== B) throw new Error(`DiffusionPrior.sample: ${name} has ${t.shape[0]} rows, textEmbed ${B}`);
  }
  const owned: Tensor[] = [];
  const rep = (t: Tensor): Tensor => {
    const out = repeatRows(t, r);
    if (out !== t) owned.push(out.keep());
    return out;
  };
  const inputs: NetCond = { textEmbed: rep(text.textEmbed) };
  if (text.textEncodings) inputs.textEncodings = rep(text.textEncodings);
  if (text.textMask) inputs.textMask = rep(text.textMask);
  return { inputs, owned, batch: B };
}
