// dalle2-laion `BasicInference`: text in, images out (prior -> decoder).
import { InferenceScript, type DecodedImage, type ImageKey } from './inferenceScript.js';

export interface BasicInferenceOptions {
  /** Default: the load config's `prior.default_cond_scale`, else 1. */
  priorCondScale?: number;
  /** Default: per unet from the load config, else 1. */
  decoderCondScale?: number | readonly number[];
  /** Image embeddings per prompt (default 1). */
  priorSampleCount?: number;
  /** Images per image embedding (default 1). */
  decoderSampleCount?: number;
  priorBatchSize?: number;
  decoderBatchSize?: number;
  /** Prior candidates reranked per embedding (default 2). */
  priorNumSamplesPerBatch?: number;
  /** Sampling-step overrides. */
  priorTimesteps?: number;
  decoderTimesteps?: number | readonly (number | undefined)[];
  /** Called as each image is decoded (prompt index, its prior sample number, decoder sample number). */
  onImage?: (image: DecodedImage, at: { prompt: number; sample: number; decoderSample: number }) => void | Promise<void>;
}

/** Images of one prompt, grouped by the image embedding (global embedding index) they were decoded from. */
export interface PromptImages {
  prompt: string;
  /** embedding index -> images (upstream's `output_map[prompt]`). */
  byEmbedding: Map<number, DecodedImage[]>;
}

export class BasicInference extends InferenceScript {
  /** One entry per prompt, in order (upstream keys a dict by prompt text; duplicates stay apart here). */
  async run(text: string | readonly string[], opts: BasicInferenceOptions = {}): Promise<PromptImages[]> {
    const prompts = typeof text === 'string' ? [text] : [...text];
    if (prompts.length === 0) throw new Error('BasicInference.run: no prompts');
    this.print(`Generating images for texts: ${JSON.stringify(prompts)}`);
    this.print('Generating prior embeddings...');
    const embeddingMap = await this.samplePrior(prompts, {
      condScale: opts.priorCondScale,
      sampleCount: opts.priorSampleCount ?? 1,
      batchSize: opts.priorBatchSize ?? 100,
      numSamplesPerBatch: opts.priorNumSamplesPerBatch ?? 2,
      timesteps: opts.priorTimesteps,
    });
    this.print('Finished generating prior embeddings.');
    const embeddings: Float32Array[] = [];
    const decoderText: string[] = [];
    const streams: ImageKey[] = [];
    const reverse: number[][] = prompts.map(() => []);
    prompts.forEach((p, i) => {
      for (const [sample, e] of (embeddingMap.get(i) ?? []).entries()) {
        reverse[i].push(embeddings.length);
        embeddings.push(e);
        decoderText.push(p);
        streams.push({ input: i, sample });
      }
    });
    this.print(`Grouped ${prompts.length} texts into ${embeddings.length} embeddings.`);
    this.print('Sampling from decoder...');
    const imageMap = await this.sampleDecoder({
      imageEmbed: embeddings,
      text: decoderText,
      condScale: opts.decoderCondScale,
      sampleCount: opts.decoderSampleCount ?? 1,
      batchSize: opts.decoderBatchSize ?? 10,
      timesteps: opts.decoderTimesteps,
      streams,
      onDecoded: opts.onImage ? (e, decoderSample, image) => opts.onImage!(image, { prompt: streams[e].input, sample: streams[e].sample, decoderSample }) : undefined,
    });
    this.print('Finished sampling from decoder.');
    return prompts.map((prompt, i) => ({
      prompt,
      byEmbedding: new Map(reverse[i].map((e) => [e, imageMap.get(e) ?? []])),
    }));
  }
}
