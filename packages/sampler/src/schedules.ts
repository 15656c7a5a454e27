// Noise schedules of DALLE2-pytorch 1.1.0 (`*_beta_schedule`, `NoiseScheduler.__init__`). Upstream
// computes betas and every derived array in float64 and registers them as float32 buffers; the
// sampling math then runs on those float32 buffers. `jsd` is the exception: its betas come from a
// float32 `1.0 / torch.linspace(T, 1, T)`, so its whole chain is float32 (cumprod still accumulates
// in double, as torch's CPU cumprod does for float).
import { torchLinspace } from './linspace.js';

export type BetaScheduleKind = 'cosine' | 'linear' | 'quadratic' | 'jsd' | 'sigmoid';

/** Every beta schedule upstream offers. */
export const BETA_SCHEDULES: readonly BetaScheduleKind[] = ['cosine', 'linear', 'quadratic', 'jsd', 'sigmoid'];

/** Upstream's buffer names (state_dict keys `noise_scheduler.<name>` / `noise_schedulers.N.<name>`). */
export const SCHEDULE_BUFFER_NAMES = [
  'betas',
  'alphas_cumprod',
  'alphas_cumprod_prev',
  'sqrt_alphas_cumprod',
  'sqrt_one_minus_alphas_cumprod',
  'log_one_minus_alphas_cumprod',
  'sqrt_recip_alphas_cumprod',
  'sqrt_recipm1_alphas_cumprod',
  'posterior_variance',
  'posterior_log_variance_clipped',
  'posterior_mean_coef1',
  'posterior_mean_coef2',
  'p2_loss_weight',
] as const;

export type ScheduleBufferName = (typeof SCHEDULE_BUFFER_NAMES)[number];
export type ScheduleBuffers<A> = Readonly<Record<ScheduleBufferName, A>>;

export interface NoiseScheduleOptions {
  /** Upstream `p2_loss_weight_gamma` (default 0: weight 1 everywhere). Only affects p2_loss_weight. */
  p2LossWeightGamma?: number;
  /** Upstream `p2_loss_weight_k` (default 1). */
  p2LossWeightK?: number;
}

function cosineBetas(T: number, s = 0.008): Float64Array {
  const x = torchLinspace(0, T, T + 1, { dtype: 'f64' });
  const raw = x.map((v) => {
    const c = Math.cos((((v / T + s) / (1 + s)) * Math.PI) * 0.5);
    return c * c; // torch's x ** 2 is x * x
  });
  const ac = raw.map((v) => v / raw[0]);
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) betas[i] = Math.min(Math.max(1 - ac[i + 1] / ac[i], 0), 0.999);
  return betas;
}

/** Upstream's beta range for T steps (scaled so that T=1000 gives 1e-4 .. 0.02). */
function betaRange(T: number): [number, number] {
  const scale = 1000 / T;
  return [scale * 0.0001, scale * 0.02];
}

function linearBetas(T: number): Float64Array {
  const [b0, b1] = betaRange(T);
  return torchLinspace(b0, b1, T, { dtype: 'f64' });
}

function quadraticBetas(T: number): Float64Array {
  const [b0, b1] = betaRange(T);
  // Python's x ** 0.5 is C pow(x, 0.5); sqrt is the correctly rounded value it returns.
  return torchLinspace(Math.sqrt(b0), Math.sqrt(b1), T, { dtype: 'f64' }).map((v) => v * v);
}

function sigmoidBetas(T: number): Float64Array {
  const [b0, b1] = betaRange(T);
  return torchLinspace(-6, 6, T, { dtype: 'f64' }).map((v) => (1 / (1 + Math.exp(-v))) * (b1 - b0) + b0);
}

function jsdBetas(T: number): Float64Array {
  return torchLinspace(T, 1, T, { dtype: 'f32' }).map((v) => Math.fround(1 / v));
}

/** Upstream's betas for `kind` and T steps (float64; jsd holds float32 values). */
export function betaSchedule(kind: BetaScheduleKind, timesteps: number): Float64Array {
  if (!Number.isInteger(timesteps) || timesteps < 1) {
    throw new Error(`betaSchedule: timesteps ${timesteps} must be a positive integer`);
  }
  switch (kind) {
    case 'cosine':
      return cosineBetas(timesteps);
    case 'linear':
      return linearBetas(timesteps);
    case 'quadratic':
      return quadraticBetas(timesteps);
    case 'jsd':
      return jsdBetas(timesteps);
    case 'sigmoid':
      return sigmoidBetas(timesteps);
    default:
      throw new Error(`betaSchedule: unknown schedule '${String(kind)}' (expected ${BETA_SCHEDULES.join(' | ')})`);
  }
}

/**
 * NoiseScheduler.__init__'s derived arrays, each element op rounded by `r` (identity for the float64
 * schedules, Math.fround for jsd's float32 chain). Operation order follows upstream exactly.
 */
function deriveBuffers(betas: Float64Array, r: (x: number) => number, opts: NoiseScheduleOptions): ScheduleBuffers<Float64Array> {
  const T = betas.length;
  const gamma = opts.p2LossWeightGamma ?? 0;
  const k = opts.p2LossWeightK ?? 1;
  const out = Object.fromEntries(SCHEDULE_BUFFER_NAMES.map((n) => [n, new Float64Array(T)])) as Record<ScheduleBufferName, Float64Array>;
  const minVar = r(1e-20);
  let cum = 1; // torch's CPU cumprod accumulates in double for float and double tensors
  for (let t = 0; t < T; t++) {
    const b = betas[t];
    const alpha = r(1 - b);
    const acp = t === 0 ? 1 : out.alphas_cumprod[t - 1];
    cum *= alpha;
    const ac = r(cum);
    const oneMinusAc = r(1 - ac);
    const pv = r(r(b * r(1 - acp)) / oneMinusAc);
    out.betas[t] = b;
    out.alphas_cumprod[t] = ac;
    out.alphas_cumprod_prev[t] = acp;
    out.sqrt_alphas_cumprod[t] = r(Math.sqrt(ac));
    out.sqrt_one_minus_alphas_cumprod[t] = r(Math.sqrt(oneMinusAc));
    out.log_one_minus_alphas_cumprod[t] = r(Math.log(oneMinusAc));
    out.sqrt_recip_alphas_cumprod[t] = r(Math.sqrt(r(1 / ac)));
    out.sqrt_recipm1_alphas_cumprod[t] = r(Math.sqrt(r(r(1 / ac) - 1)));
    out.posterior_variance[t] = pv;
    out.posterior_log_variance_clipped[t] = r(Math.log(Number.isNaN(pv) ? pv : Math.max(pv, minVar)));
    out.posterior_mean_coef1[t] = r(r(b * r(Math.sqrt(acp))) / oneMinusAc);
    out.posterior_mean_coef2[t] = r(r(r(1 - acp) * r(Math.sqrt(alpha))) / oneMinusAc);
    out.p2_loss_weight[t] = r(r(k + r(ac / oneMinusAc)) ** -gamma);
  }
  return out;
}

function toFloat32(buffers: ScheduleBuffers<Float64Array>): ScheduleBuffers<Float32Array> {
  return Object.fromEntries(SCHEDULE_BUFFER_NAMES.map((n) => [n, Float32Array.from(buffers[n])])) as ScheduleBuffers<Float32Array>;
}

/**
 * Upstream NoiseScheduler's arrays. `f64` holds the values upstream computes before registering them
 * (float64; for jsd the float32 chain), `f32` the registered float32 buffers. Sampling math uses
 * `f32`: upstream `extract`s from the float32 buffers and steps in float32 tensors.
 */
export class NoiseSchedule {
  private logBetasF32: Float32Array | undefined;

  private constructor(
    /** The beta schedule, or 'buffers' when built from stored buffers. */
    readonly kind: BetaScheduleKind | 'buffers',
    readonly f64: ScheduleBuffers<Float64Array>,
    readonly f32: ScheduleBuffers<Float32Array>,
  ) {}

  /** NoiseScheduler(beta_schedule=kind, timesteps). */
  static create(kind: BetaScheduleKind, timesteps: number, opts: NoiseScheduleOptions = {}): NoiseSchedule {
    const betas = betaSchedule(kind, timesteps);
    const f64 = deriveBuffers(betas, kind === 'jsd' ? Math.fround : (x) => x, opts);
    return new NoiseSchedule(kind, f64, toFloat32(f64));
  }

  /**
   * A schedule from stored float32 buffers (e.g. a checkpoint's `noise_scheduler.*` tensors). Every
   * buffer is required except p2_loss_weight (default 1); `f64` then holds the same values widened.
   */
  static fromBuffers(buffers: Partial<Record<ScheduleBufferName, Float32Array>>): NoiseSchedule {
    const T = buffers.betas?.length;
    if (T === undefined || T < 1) throw new Error('NoiseSchedule.fromBuffers: missing or empty buffer betas');
    const f32 = {} as Record<ScheduleBufferName, Float32Array>;
    for (const name of SCHEDULE_BUFFER_NAMES) {
      const a: Float32Array | undefined = buffers[name] ?? (name === 'p2_loss_weight' ? new Float32Array(T).fill(1) : undefined);
      if (a === undefined) throw new Error(`NoiseSchedule.fromBuffers: missing buffer ${name}`);
      if (a.length !== T) throw new Error(`NoiseSchedule.fromBuffers: buffer ${name} has ${a.length} values, betas has ${T}`);
      f32[name] = Float32Array.from(a);
    }
    const f64 = Object.fromEntries(SCHEDULE_BUFFER_NAMES.map((n) => [n, Float64Array.from(f32[n])])) as ScheduleBuffers<Float64Array>;
    return new NoiseSchedule('buffers', f64, f32);
  }

  /** Number of diffusion timesteps T. */
  get numTimesteps(): number {
    return this.f32.betas.length;
  }

  /** Float32 buffer value at timestep t (upstream `extract` for one sample); throws outside [0, T). */
  at(name: ScheduleBufferName, t: number): number {
    this.checkTimestep(t, 'NoiseSchedule.at');
    return this.f32[name][t];
  }

  /** torch.log(betas) on the float32 buffer: the upper end of the learned-variance interpolation. */
  logBetas(): Float32Array {
    this.logBetasF32 ??= this.f32.betas.map((b) => Math.fround(Math.log(b)));
    return this.logBetasF32;
  }

  /** Throws unless t is an integer timestep in [0, T). */
  checkTimestep(t: number, what: string): void {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTimesteps) {
      throw new Error(`${what}: timestep ${t} is outside [0, ${this.numTimesteps}) of this ${this.kind} schedule`);
    }
  }
}
