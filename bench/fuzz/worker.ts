// Fuzz worker (a child process): loads each case file through the entry points the CLI uses and
// reports how it ended. The parent enforces time and memory caps and restarts it after a kill.
import {
  cacheFileName, centerCropToSquare, decodeImage, loadModelLoadConfig, openCheckpoint, parseDecoderConfig, parseDiffusionPriorConfig, readJsonFile, resizeImage,
  type FileSpec, type ModelLoadConfig,
} from '@dalle2/dalle2';
import type { Target } from './cases.js';

export interface WorkerRequest {
  index: number;
  target: Target;
  path: string;
}

export interface WorkerReply {
  index: number;
  /** ok: loaded; error: a project error naming the file (or JSON path); unnamed: a project error that does not; crash: any other error. */
  result: 'ok' | 'error' | 'unnamed' | 'crash';
  errorName?: string;
  message?: string;
  ms: number;
}

/** The project's own error types: anything else escaping a loader is a crash. */
const PROJECT_ERRORS = new Set([
  'PthError', 'SafetensorsError', 'CheckpointFormatError', 'ConfigError', 'ModelLoadError', 'ImageError', 'FileFetchError',
  'DecoderConfigError', 'UnetConfigError', 'PriorConfigError', 'DiffusionPriorConfigError', 'WeightError',
]);

async function run(req: WorkerRequest): Promise<void> {
  const { path, target } = req;
  if (target === 'checkpoint') {
    const file = await openCheckpoint(path, 'fuzz');
    try {
      for (const key of file.keys()) {
        file.info(key);
        await file.read(key);
      }
      if (file.config !== undefined) {
        if (/prior/.test(path)) parseDiffusionPriorConfig(file.config, `${path} (embedded config)`);
        else parseDecoderConfig(file.config, `${path} (embedded config)`);
      }
    } finally {
      await file.close();
    }
  } else if (target === 'model-load-config') {
    const config = await loadModelLoadConfig(path);
    for (const spec of fileSpecs(config)) if (spec.load_type === 'url') cacheFileName(spec);
  } else if (target === 'decoder-config' || target === 'prior-config') {
    const doc = await readJsonFile(path, 'fuzz');
    if (target === 'decoder-config') parseDecoderConfig(doc, path);
    else parseDiffusionPriorConfig(doc, path);
  } else {
    await resizeImage(centerCropToSquare(await decodeImage(path)), 64);
  }
}

function fileSpecs(c: ModelLoadConfig): FileSpec[] {
  const out: (FileSpec | undefined)[] = [c.clip?.load_model_from, c.clip?.load_config_from, c.prior?.load_model_from, c.prior?.load_config_from];
  for (const s of c.decoder?.unet_sources ?? []) out.push(s.load_model_from, s.load_config_from);
  return out.filter((s): s is FileSpec => s !== undefined);
}

function classify(err: unknown, path: string): Omit<WorkerReply, 'index' | 'ms'> {
  const name = err instanceof Error ? err.name : typeof err;
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 500);
  if (!PROJECT_ERRORS.has(name)) return { result: 'crash', errorName: name, message };
  // A fetch error is labelled with the config's JSON path rather than the file.
  const named = message.includes(path) || (name === 'FileFetchError' && /^(clip|prior|decoder)[.\w[\]]*: /.test(message));
  return { result: named ? 'error' : 'unnamed', errorName: name, message };
}

process.on('message', (req: WorkerRequest) => {
  const t0 = performance.now();
  run(req).then(
    () => ({ result: 'ok' as const }),
    (err: unknown) => classify(err, req.path),
  ).then((r) => {
    (globalThis as { gc?: () => void }).gc?.(); // start the next case from a clean heap
    const reply: WorkerReply = { index: req.index, ...r, ms: Math.round(performance.now() - t0) };
    process.send?.(reply);
  });
});
process.send?.({ ready: true });
