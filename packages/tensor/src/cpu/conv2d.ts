// Plain TypeScript reference for conv2d (NCHW, PyTorch semantics): direct loops, float64 accumulation.
import { conv2dGeometry, type Conv2dOptions } from '../ops/conv2d.js';
import type { Shape } from '../shape.js';

/**
 * conv2d reference, output [N, Cout, Ho, Wo] flat (shape from `conv2dGeometry`):
 * y[n, co, oh, ow] = bias[co] + sum over ci (in co's group), kh, kw of
 * w[co, ci, kh, kw] * x[n, g*Cg + ci, oh*sh - padTop + kh*dh, ow*sw - padLeft + kw*dw] (zero outside).
 */
export function conv2dRef(
  x: Float32Array,
  xShape: Shape,
  w: Float32Array,
  wShape: Shape,
  bias: Float32Array | undefined,
  opts: Conv2dOptions = {},
): Float32Array {
  const g = conv2dGeometry(xShape, wShape, bias ? [bias.length] : undefined, opts);
  const { n: N, cin, h: H, w: W, cout, ho, wo, kh: KH, kw: KW, cg, mg } = g;
  const out = new Float32Array(N * cout * ho * wo);
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < cout; co++) {
      const ciBase = Math.floor(co / mg) * cg;
      for (let oh = 0; oh < ho; oh++) {
        for (let ow = 0; ow < wo; ow++) {
          let acc = bias ? bias[co] : 0;
          for (let ci = 0; ci < cg; ci++) {
            for (let i = 0; i < KH; i++) {
              const ih = oh * g.sh - g.padTop + i * g.dh;
              if (ih < 0 || ih >= H) continue;
              for (let j = 0; j < KW; j++) {
                const iw = ow * g.sw - g.padLeft + j * g.dw;
                if (iw < 0 || iw >= W) continue;
                acc += w[((co * cg + ci) * KH + i) * KW + j] * x[((n * cin + ciBase + ci) * H + ih) * W + iw];
              }
            }
          }
          out[((n * cout + co) * ho + oh) * wo + ow] = acc;
        }
      }
    }
  }
  return out;
}
