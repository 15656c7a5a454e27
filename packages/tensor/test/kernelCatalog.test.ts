// Kernels that port: every kernels/*.wgsl has a header that matches its code (defines, bindings, params),
// and `emitKernel` with the header's defaults gives plain WGSL that compiles and builds a pipeline on a
// fresh device with the bind group layout the header states.
import { afterAll, describe, expect, it } from 'vitest';
import { requestGpu, type GpuHandle } from '../src/device.js';
import { readdirSync } from 'node:fs';
import { KERNELS_DIR, expandedSource, kernelSource } from '../src/kernelSource.js';
import { emitKernel, kernelHeader, kernelNames, requiredFeatures } from '../src/kernelCatalog.js';
import { parseKernelHeader, type BindingDoc, type KernelHeader } from '../src/kernelHeader.js';

const names = kernelNames();

/** WGSL text without {{ }} around define names and without spaces, for comparing types. */
const norm = (t: string): string => t.replace(/\{\{(\w+)\}\}/g, '$1').replace(/\s+/g, '');

/** Comments removed: declarations and tokens are checked in live code only. */
const live = (code: string): string => code.replace(/\/\/.*$/gm, '');

function declaredBindings(code: string): Omit<BindingDoc, 'doc'>[] {
  const re = /@group\(0\)\s*@binding\((\d+)\)\s*var<(uniform|storage,\s*read|storage,\s*read_write)>\s*(\w+)\s*:\s*([^;]+);/g;
  return [...live(code).matchAll(re)]
    .map((m) => {
      const access = m[2] === 'uniform' ? 'uniform' : m[2].endsWith('read_write') ? 'read_write' : 'read';
      return { binding: Number(m[1]), name: m[3], type: norm(m[4]), access } as const;
    })
    .sort((a, b) => a.binding - b.binding);
}

/** Fields of `struct <type>` as [name, normalised type], splitting on top-level commas only. */
function structFields(code: string, type: string): [string, string][] {
  const bare = live(code).replace(/\{\{(\w+)\}\}/g, '$1');
  const m = new RegExp(`struct\\s+${type}\\s*\\{([^}]*)\\}`).exec(bare);
  if (!m) throw new Error(`no struct ${type}`);
  const fields: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of m[1]) {
    if (ch === '<') depth++;
    if (ch === '>') depth--;
    if (ch === ',' && depth === 0) {
      fields.push(cur);
      cur = '';
    } else cur += ch;
  }
  fields.push(cur);
  return fields
    .map((f) => f.replace(/@\w+\([^)]*\)/g, '').trim())
    .filter((f) => f !== '')
    .map((f) => {
      const i = f.indexOf(':');
      return [f.slice(0, i).trim(), norm(f.slice(i + 1))];
    });
}

describe('kernel headers', () => {
  it('finds the kernels, libraries excluded', () => {
    expect(names).toContain('matmul');
    expect(names.length).toBeGreaterThan(30);
    expect(names.some((n) => n.startsWith('lib_'))).toBe(false);
  });

  it('rejects a malformed header and names the line', () => {
    expect(() => parseKernelHeader('k', '// x\n// Defines:\n//   T: f32\n')).toThrow('kernel "k": header line "//   T: f32"');
    expect(() => parseKernelHeader('k', '// x\n// Defines: none\n// Bindings: none\n')).toThrow('no Params section');
    const h = parseKernelHeader('k', '// does x.\n// Defines:\n//   E = `x + y` -- an expression\n//     over x, y\n// Bindings (group 0):\n//   @binding(0) a: array<T>, read\n// Params: none\nfn f() {}');
    expect(h).toEqual<KernelHeader>({
      summary: 'does x.',
      defines: [{ name: 'E', default: 'x + y', doc: 'an expression over x, y' }],
      bindings: [{ binding: 0, name: 'a', type: 'array<T>', access: 'read', doc: '' }],
      params: [],
    });
  });

  it.each(names)('%s: the header states exactly the defines, bindings and params of the code', (name) => {
    const h = kernelHeader(name);
    const src = expandedSource(name);
    expect(h.summary, 'summary').not.toBe('');
    const used = [...new Set([...src.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]))].sort();
    expect(h.defines.map((d) => d.name).sort(), 'defines').toEqual(used);
    for (const d of h.defines) expect(d.doc, `define ${d.name} doc`).not.toBe('');
    const declared = declaredBindings(src);
    const stated = h.bindings.map(({ doc: _, ...b }) => ({ ...b, type: norm(b.type) })).sort((a, b) => a.binding - b.binding);
    expect(stated, 'bindings').toEqual(declared);
    const uniform = declared.find((b) => b.access === 'uniform');
    const params = uniform ? structFields(src, uniform.type) : [];
    expect(h.params.map((p) => [p.name, norm(p.type)]), 'params').toEqual(params);
  });
});

const libs = readdirSync(KERNELS_DIR)
  .filter((f) => f.startsWith('lib_') && f.endsWith('.wgsl'))
  .map((f) => f.slice(0, -'.wgsl'.length));

describe('shared library headers', () => {
  // Each lib_* names itself, the files including it and the defines it uses: "Defines: none." or a list.
  it.each(libs)('%s: names its includers and exactly its own defines', (lib) => {
    const src = kernelSource(lib);
    expect(src.startsWith(`// ${lib}: `), 'first line "// <name>: what it is"').toBe(true);
    const header = src.slice(0, src.search(/^(?!\/\/)|^\/\/!/m)).replace(/\n\/\/ ?/g, ' ');
    const field = (key: string) => new RegExp(`${key}: ([^.(]*)`).exec(header)?.[1].trim() ?? '(missing)';
    const list = (v: string) => (v === 'none' ? [] : v.split(',').map((x) => x.trim())).sort();
    const own = [...new Set([...src.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]))].sort();
    expect(list(field('Defines')), 'Defines').toEqual(own);
    const includers = [...names, ...libs].filter((n) => new RegExp(`^//!include\\s+${lib}\\s*$`, 'm').test(kernelSource(n)));
    expect(list(field('Included by')), 'Included by').toEqual(includers.sort());
  });
});

describe('emitted kernels compile on a fresh device', () => {
  let gpu: GpuHandle | undefined;
  // WebGPU's default limits, as a browser page has them: the defaults must fit any WebGPU device.
  const device = async (): Promise<GPUDevice> => (gpu ??= await requestGpu({ defaultLimits: true })).device;
  afterAll(() => gpu?.device.destroy());

  /** Emits `name`, compiles it and builds every entry point with the header's bind group layout. */
  async function compile(name: string, overrides: Record<string, string>, skip: (note: string) => void): Promise<void> {
    const code = emitKernel(name, overrides);
    expect(code).not.toMatch(/\{\{\s*\w*\s*\}\}/);
    expect(code).not.toMatch(/^\s*\/\/!include|^\s*#\s*(include|if|ifdef|define)\b/m);
    const dev = await device();
    const missing = requiredFeatures(code).filter((f) => !dev.features.has(f));
    if (missing.length) return skip(`adapter lacks ${missing.join(', ')}`);
    const module = dev.createShaderModule({ code, label: name });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
    expect(errors, 'compilation errors').toEqual([]);
    // The layout the header states: a pipeline fails if the code declares a binding differently.
    // unary binds 0 and 1 twice (scalar and vec4 views): one layout entry per binding number.
    const bindings = [...new Map(kernelHeader(name).bindings.map((b) => [b.binding, b])).values()];
    const entries = bindings.map((b): GPUBindGroupLayoutEntry => ({
      binding: b.binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.access === 'uniform' ? 'uniform' : b.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    const layout = dev.createPipelineLayout({ bindGroupLayouts: [dev.createBindGroupLayout({ entries })] });
    const entryPoints = [...live(code).matchAll(/@compute[\s\S]*?\bfn\s+(\w+)/g)].map((m) => m[1]);
    expect(entryPoints.length, 'entry points').toBeGreaterThan(0);
    for (const entryPoint of entryPoints) {
      await dev.createComputePipelineAsync({ layout, compute: { module, entryPoint }, label: `${name}#${entryPoint}` });
    }
  }

  it('an emitted kernel runs on plain WebGPU calls, bound and packed as its header says', async () => {
    // binary_scalar, EXPR overridden: out = a * s. Params n: u32, s: f32 (header order), padded to 16 bytes.
    const dev = await device();
    const module = dev.createShaderModule({ code: emitKernel('binary_scalar', { EXPR: 'x * y' }) });
    const pipeline = await dev.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const a = dev.createBuffer({ size: 16, usage });
    dev.queue.writeBuffer(a, 0, new Float32Array([1, -2, 3.5, 0]));
    const out = dev.createBuffer({ size: 16, usage });
    const params = new DataView(new ArrayBuffer(16));
    params.setUint32(0, 3, true);
    params.setFloat32(4, 4, true);
    const p = dev.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    dev.queue.writeBuffer(p, 0, params.buffer);
    const entries = [a, out, p].map((buffer, binding) => ({ binding, resource: { buffer } }));
    const group = dev.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const read = dev.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(out, 0, read, 0, 16);
    dev.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    expect([...new Float32Array(read.getMappedRange())]).toEqual([4, -8, 14, 0]);
    read.unmap();
  });

  it.for(names)('%s with its default defines', (name, ctx) => compile(name, {}, (note) => ctx.skip(note)));

  // Defaults that name T (storage views, affine types) follow it: T=f16 alone must give consistent code.
  const f16Kernels = names.filter((n) => kernelHeader(n).defines.some((d) => d.name === 'T' && /\bf16\b/.test(d.doc)));
  it.for(f16Kernels)('%s with T=f16', (name, ctx) => compile(name, { T: 'f16' }, (note) => ctx.skip(note)));
});
