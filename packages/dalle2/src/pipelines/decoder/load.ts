// Decoder checkpoints: safetensors with the upstream state-dict keys `unets.N.*`, optionally
// `noise_schedulers.N.*`; any other key is an error, as upstream's strict load_state_dict.
import { Unet, WeightError } from '@dalle2/models';
import { NoiseSchedule, SCHEDULE_BUFFER_NAMES, type ScheduleBufferName } from '@dalle2/sampler';
import { SafetensorsFile, type Runtime } from '@dalle2/tensor';
import type { DecoderConfig } from './config.js';
import type { DecoderLoadOptions, UnetLoader } from './types.js';

/** Throws unless every key is a unet's or a schedule buffer's, and every unet has weights. */
function checkKeys(file: SafetensorsFile, weightsPath: string, n: number): void {
  const stray: string[] = [];
  const seen = new Set<number>();
  for (const key of file.keys()) {
    const u = /^unets\.(\d+)\./.exec(key);
    if (u && Number(u[1]) < n) {
      seen.add(Number(u[1]));
      continue;
    }
    const s = /^noise_schedulers\.(\d+)\.(\w+)$/.exec(key);
    if (s && Number(s[1]) < n && (SCHEDULE_BUFFER_NAMES as readonly string[]).includes(s[2])) continue;
    stray.push(key);
  }
  if (stray.length) {
    const list = stray.slice(0, 10).join(', ') + (stray.length > 10 ? `, ... (${stray.length} in all)` : '');
    throw new WeightError(`${weightsPath}: ${stray.length} key(s) belong to no part of a ${n}-unet Decoder: ${list}`);
  }
  for (let i = 0; i < n; i++) if (!seen.has(i)) throw new WeightError(`${weightsPath}: no weights for unet ${i + 1} (unets.${i}.*)`);
}

/** The file's `noise_schedulers.N.*` buffers as schedules (as load_state_dict would install them). */
async function readSchedules(file: SafetensorsFile, weightsPath: string, n: number): Promise<NoiseSchedule[]> {
  const schedules: NoiseSchedule[] = [];
  for (let i = 0; i < n; i++) {
    const buffers: Partial<Record<ScheduleBufferName, Float32Array>> = {};
    for (const name of SCHEDULE_BUFFER_NAMES) {
      const key = `noise_schedulers.${i}.${name}`;
      if (file.has(key)) buffers[name] = await file.readFloat32(key);
    }
    try {
      schedules.push(NoiseSchedule.fromBuffers(buffers));
    } catch (e) {
      throw new WeightError(`${weightsPath}: noise_schedulers.${i}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return schedules;
}

/** Checks the checkpoint's keys and reads its schedules when asked to. */
export async function scanDecoderCheckpoint(weightsPath: string, config: DecoderConfig, opts: DecoderLoadOptions): Promise<NoiseSchedule[] | undefined> {
  const n = config.unets.length;
  const file = await SafetensorsFile.open(weightsPath);
  try {
    checkKeys(file, weightsPath, n);
    return opts.schedules === 'checkpoint' ? await readSchedules(file, weightsPath, n) : undefined;
  } finally {
    await file.close();
  }
}

/** One loader per unet, and the unets loaded now (or the loaders themselves when lazy). */
export async function loadUnets(rt: Runtime, weightsPath: string, config: DecoderConfig, opts: DecoderLoadOptions): Promise<{ loaders: UnetLoader[]; unets: (Unet | UnetLoader)[] }> {
  const loaders = config.unets.map((uc, i): UnetLoader => () => Unet.fromSafetensors(rt, weightsPath, i, uc, {}, { dtype: opts.dtype }));
  const unets: (Unet | UnetLoader)[] = [];
  try {
    for (const load of loaders) unets.push(opts.lazy ? load : await load());
  } catch (e) {
    for (const u of unets) if (u instanceof Unet) u.dispose();
    throw e;
  }
  return { loaders, unets };
}
