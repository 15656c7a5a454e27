// 1x1 convolutions: nn.Linear over the channels of an NCHW map (upstream rearranges to 'b (h w) c' first).
import { conv2d, type Tensor, type Conv2dActivation } from '@dalle2/tensor';

/** 1x1 convolution of NCHW x by weight [out, in] or [out, in, 1, 1]. */
export function conv1x1(x: Tensor, weight: Tensor, bias?: Tensor, activation: Conv2dActivation = 'none'): Tensor {
  const w4 = weight.rank === 4 ? weight : weight.reshape([weight.shape[0], weight.shape[1], 1, 1]);
  const y = conv2d(x, w4, bias, { activation });
  if (w4 !== weight) w4.dispose();
  return y;
}
