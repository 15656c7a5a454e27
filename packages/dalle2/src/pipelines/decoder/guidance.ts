// Unet.forward_with_cond_scale as classifier-free guidance (@dalle2/sampler) over the unet's batched
// forward: the conditional rows keep their conditioning, the null rows drop image and text conditioning.
import type { Unet, UnetForwardArgs } from '@dalle2/models';
import { classifierFreeGuidance } from '@dalle2/sampler';
import type { Tensor } from '@dalle2/tensor';

/** Per-row drop flags: the guidance's null rows plus any drop the caller asked for. */
function dropRows(flag: boolean | readonly boolean[] | undefined, drop: readonly boolean[]): boolean[] {
  return drop.map((d, i) => d || (typeof flag === 'object' ? flag[i] : flag === true));
}

/** Unet.forward_with_cond_scale: null + (cond - null) * condScale, both passes batched; condScale 1 is a plain forward. */
export function unetForwardWithCondScale(unet: Unet, args: UnetForwardArgs, condScale: number): Tensor {
  return classifierFreeGuidance({
    rt: unet.rt,
    batch: args.x.shape[0],
    condScale,
    inputs: args,
    denoise: (a, drop) => unet.forward({ ...a, imageCondDrop: dropRows(a.imageCondDrop, drop), textCondDrop: dropRows(a.textCondDrop, drop) }),
  });
}
