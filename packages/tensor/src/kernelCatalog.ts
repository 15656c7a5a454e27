// The kernels in kernels/ as a catalogue for porting: their names, parsed headers, and plain WGSL emitted
// with the header's default defines (overridable), includes expanded. Node-only (reads the folder).
import { readdirSync } from 'node:fs';
import { KERNELS_DIR, kernelSource, specialise, type Defines } from './kernelSource.js';
import { defaultDefines, parseKernelHeader, type KernelHeader } from './kernelHeader.js';

/** Kernel names (file stems), shared `lib_*` includes excluded, sorted. */
export function kernelNames(): string[] {
  return readdirSync(KERNELS_DIR)
    .filter((f) => f.endsWith('.wgsl') && !f.startsWith('lib_'))
    .map((f) => f.slice(0, -'.wgsl'.length))
    .sort();
}

export function kernelHeader(name: string): KernelHeader {
  return parseKernelHeader(name, kernelSource(name));
}

/**
 * The defines `emitKernel` uses: the header's defaults overridden by `overrides`. A key the header does
 * not declare is an error (a typo would otherwise be ignored silently).
 */
export function effectiveDefines(name: string, overrides: Defines = {}): Record<string, string> {
  const defaults = defaultDefines(kernelHeader(name));
  for (const k of Object.keys(overrides)) {
    if (!(k in defaults)) throw new Error(`kernel "${name}": no define ${k} (defines: ${Object.keys(defaults).join(', ') || 'none'})`);
  }
  const given = Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, String(v)]));
  const merged: Record<string, string> = { ...defaults, ...given };
  // A default may name other defines (`vec4<{{T}}>`), so `T=f16` alone gives consistent f16 views.
  // References resolve a few levels deep; a cycle or unknown name stays and fails at compile time.
  const resolve = (v: string) => v.replace(/\{\{(\w+)\}\}/g, (m, key: string) => merged[key] ?? m);
  for (let pass = 0; pass < 4; pass++) {
    for (const k of Object.keys(merged)) if (!(k in given)) merged[k] = resolve(merged[k]);
  }
  return merged;
}

/** Self-contained WGSL for `name`: includes expanded, every define substituted (see effectiveDefines). */
export function emitKernel(name: string, overrides: Defines = {}): string {
  return specialise(name, effectiveDefines(name, overrides));
}

/** WebGPU features emitted code needs, from its `enable` directives. */
export function requiredFeatures(code: string): GPUFeatureName[] {
  const out: GPUFeatureName[] = [];
  if (/^\s*enable\s+[^;]*\bf16\b/m.test(code)) out.push('shader-f16');
  if (/^\s*enable\s+[^;]*\bsubgroups\b/m.test(code)) out.push('subgroups');
  return out;
}
