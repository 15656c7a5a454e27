// Kernel sources: files in kernels/, or registered at run time (bundled/browser builds, prototypes), both
// specialised by {{DEFINES}} with //!include libraries expanded.
import { describe, expect, it } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { kernelSource, pipelineKey, registerKernelSource, specialise } from '../src/kernelSource.js';
import { testRuntime } from './helpers.js';

const rt = await testRuntime();

const SCALE_SILU = `//!include lib_activations
@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y: array<{{T}}>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < arrayLength(&x)) { y[gid.x] = {{T}}(act_silu(f32(x[gid.x]) * {{SCALE}})); }
}`;

describe('kernel sources', () => {
  it('a registered source runs like a file kernel, includes and defines expanded', async () => {
    registerKernelSource('test_scale_silu', SCALE_SILU);
    expect(kernelSource('test_scale_silu')).toBe(SCALE_SILU);
    const code = specialise('test_scale_silu', { T: 'f32', SCALE: 2 });
    expect(code).toContain('fn act_silu');
    expect(code).not.toMatch(/\{\{|^\/\/!include/m); // (a comment may mention the directive)
    const xs = [-2, -0.5, 0, 0.5, 3];
    const x = Tensor.from(rt, new Float32Array(xs), [5]);
    const y = Tensor.empty(rt, [5]);
    rt.run({ kernel: 'test_scale_silu', defines: { T: 'f32', SCALE: 2 }, inputs: [x], outputs: [y], workgroups: [1] });
    const got = await y.read();
    xs.forEach((v, i) => expect(got[i]).toBeCloseTo((2 * v) / (1 + Math.exp(-2 * v)), 6));
  });

  it('names the kernel and the missing define; f16 code gets `enable f16`', () => {
    registerKernelSource('test_scale_silu', SCALE_SILU);
    expect(() => specialise('test_scale_silu', { T: 'f32' })).toThrow('kernel "test_scale_silu": missing define {{SCALE}}');
    expect(specialise('test_scale_silu', { T: 'f16', SCALE: 1 })).toMatch(/^enable f16;/);
    expect(() => kernelSource('no_such_kernel')).toThrow(/kernel "no_such_kernel": no source at .*no_such_kernel\.wgsl/);
    expect(pipelineKey('k', { B: 1, A: 'x' })).toBe('k{A=x,B=1}');
  });
});
