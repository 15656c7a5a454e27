// Throwaway: measure matmul kernel variants on lavapipe.
import { Runtime } from '../../packages/tensor/src/runtime.js';
import { Tensor } from '../../packages/tensor/src/tensor.js';
import { registerKernelSource } from '../../packages/tensor/src/kernelSource.js';
import { Uniforms } from '../../packages/tensor/src/ops/util.js';
import { readFileSync } from 'node:fs';

const rt = await Runtime.create();
const [file, M, K, N, ...defs] = process.argv.slice(2);
const defines: Record<string, string | number> = {};
for (const d of defs) { const [k, v] = d.split('='); defines[k] = isNaN(Number(v)) ? v : Number(v); }
registerKernelSource('proto', readFileSync(file, 'utf8'));
const m = +M, k = +K, n = +N;
const a = Tensor.from(rt, Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 13) / 13 - 0.5), [m, k]);
const b = Tensor.from(rt, Float32Array.from({ length: k * n }, (_, i) => ((i * 5) % 11) / 11 - 0.5), [k, n]);
const c = Tensor.empty(rt, [m, n]);
const R = Number(defines.R ?? 4), WGX = Number(defines.WG ?? 64), C = Number(defines.C ?? 4);
const wg: [number, number, number] = [Math.ceil(n / (WGX * C)), Math.ceil(m / R), 1];
if (defines.GX) { wg[0] = Math.ceil(n / Number(defines.GX)); wg[1] = Math.ceil(m / Number(defines.GY)); }
const u = new Uniforms().u32(m, n, k, 1).build();
const go = () => rt.run({ kernel: 'proto', defines, inputs: [a, b], outputs: [c], uniforms: u, workgroups: wg });
go(); await rt.sync();
// check a few entries
const A = await a.toFloat32(), B = await b.toFloat32(), Cc = await c.toFloat32();
let maxErr = 0;
for (let t = 0; t < 50; t++) { const i = (t * 7919) % m, j = (t * 104729) % n; let s = 0; for (let q = 0; q < k; q++) s += A[i * k + q] * B[q * n + j]; maxErr = Math.max(maxErr, Math.abs(s - Cc[i * n + j])); }
const times: number[] = [];
const t0 = performance.now();
while (performance.now() - t0 < 4000 && times.length < 20) { const s = performance.now(); go(); await rt.sync(); times.push(performance.now() - s); }
times.sort((x, y) => x - y);
const ms = times[times.length >> 1];
console.log(`${file.split('/').pop()} ${defs.join(' ')} ${m}x${k}x${n}: ${ms.toFixed(1)} ms  ${(2 * m * n * k / ms / 1e6).toFixed(2)} GFLOP/s  err ${maxErr.toExponential(1)}`);
await rt.destroy();
