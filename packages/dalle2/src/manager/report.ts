// What the manager loaded, in a form a CLI can print and a test can check.
import type { Weights } from '@dalle2/models';

export type ModelKind = 'clip' | 'prior' | 'decoder';

export interface ModelReport {
  kind: ModelKind;
  /** Short description, e.g. "DiffusionPrior dim 64 depth 4 (cosine, 1000 steps, sample 32)". */
  description: string;
  /** Files the weights came from. */
  files: string[];
  /** Scalar parameters uploaded to the GPU. */
  params: number;
  /** GPU dtype of the weights. */
  dtype: string;
  /** Stored dtypes in the file(s): tensor counts per dtype. */
  storedDtypes: Record<string, number>;
  /** GPU bytes the weights occupy (0 once released). */
  gpuBytes: number;
  /** DALLE2 version recorded in the checkpoint, if any. */
  version?: string;
  /** Whether the weights are on the GPU now. */
  resident: boolean;
}

export function weightBytes(w: Weights | undefined): number {
  if (!w) return 0;
  let n = 0;
  for (const k of w.keys()) n += w.get(k).byteSize;
  return n;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

const dtypes = (d: Record<string, number>) =>
  Object.entries(d)
    .map(([k, v]) => `${k} x${v}`)
    .join(', ');

/** One line per model plus a files line. */
export function formatReport(r: ModelReport): string {
  const head = `${r.kind.padEnd(7)} ${r.description}`;
  const stats = `${formatCount(r.params)} params, ${r.dtype} on GPU (${r.resident ? formatMiB(r.gpuBytes) : 'released'}), stored ${dtypes(r.storedDtypes) || '?'}`;
  const version = r.version ? `, version ${r.version}` : '';
  return `${head}\n        ${stats}${version}\n        from ${r.files.join(', ')}`;
}
