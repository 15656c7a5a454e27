// WGSL sources live in the repo's top-level kernels/ folder, one file per kernel (a packed
// @dalle2/tensor carries a copy in its own kernels/, made by its prepack script). Specialisation is
// textual: `{{KEY}}` tokens are replaced from the op's defines (dtype, op kind, workgroup size ...).
// Shapes never go into the text: they travel in uniforms so one pipeline serves every shape.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository's kernels/ (a checkout), else the package's own copy (installed from a tarball). */
function kernelsDir(): string {
  const repo = fileURLToPath(new URL('../../../kernels/', import.meta.url));
  return existsSync(`${repo}lib_matmul.wgsl`) ? repo : fileURLToPath(new URL('../kernels/', import.meta.url));
}

export const KERNELS_DIR = kernelsDir();
const sources = new Map<string, string>();

/** Lets bundlers (browser builds) provide sources without a file system. */
export function registerKernelSource(name: string, wgsl: string): void {
  sources.set(name, wgsl);
}

export function kernelSource(name: string): string {
  let src = sources.get(name);
  if (src === undefined) {
    try {
      src = readFileSync(`${KERNELS_DIR}${name}.wgsl`, 'utf8');
    } catch {
      throw new Error(`kernel "${name}": no source at ${KERNELS_DIR}${name}.wgsl`);
    }
    sources.set(name, src);
  }
  return src;
}

export type Defines = Readonly<Record<string, string | number | boolean>>;

/** Expands `//!include <lib>` lines with kernels/<lib>.wgsl (shared WGSL functions, e.g. activations). */
function expandIncludes(name: string, src: string, seen: Set<string>): string {
  return src.replace(/^\/\/!include\s+(\S+)\s*$/gm, (_, lib: string) => {
    if (seen.has(lib)) return '';
    seen.add(lib);
    return expandIncludes(name, kernelSource(lib), seen);
  });
}

/** The kernel with its includes expanded, {{KEY}} tokens still in place. */
export function expandedSource(name: string): string {
  return expandIncludes(name, kernelSource(name), new Set([name]));
}

export function specialise(name: string, defines: Defines): string {
  let code = expandedSource(name).replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = defines[key];
    if (v === undefined) throw new Error(`kernel "${name}": missing define {{${key}}}`);
    return String(v);
  });
  // f16 storage or arithmetic anywhere needs the extension enabled first. Comments are skipped: a
  // header saying "f32 | f16" must not make an f32 kernel require shader-f16.
  const live = code.replace(/\/\/.*$/gm, '');
  if (/\bf16\b/.test(live) && !/^\s*enable f16;/m.test(live)) code = `enable f16;\n${code}`;
  return code;
}

export function pipelineKey(name: string, defines: Defines): string {
  const parts = Object.keys(defines)
    .sort()
    .map((k) => `${k}=${defines[k]}`);
  return `${name}{${parts.join(',')}}`;
}
