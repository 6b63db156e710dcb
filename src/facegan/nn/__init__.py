"""Building blocks of the networks, named as in the papers.

- `equalized`: linear and convolution layers with the equalised learning rate of ProGAN/StyleGAN.
- `resample`: FIR up/down-sampling (upfirdn2d) in pure PyTorch.
- `mbstd`: the minibatch standard deviation layer of the discriminators.
- `bias_act`: bias + activation + gain + clamp, and the pixel norm (normalize_2nd_moment).
- `conv_resample`: convolution with FIR up/down-sampling folded in.
- `modulated`: StyleGAN2's modulated/demodulated convolution.
"""

from facegan.nn.bias_act import bias_act, normalize_2nd_moment
from facegan.nn.conv_resample import conv2d_resample
from facegan.nn.equalized import EqualizedConv2d, EqualizedLinear
from facegan.nn.mbstd import MinibatchStd
from facegan.nn.modulated import modulated_conv2d
from facegan.nn.resample import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "EqualizedConv2d",
    "EqualizedLinear",
    "MinibatchStd",
    "bias_act",
    "conv2d_resample",
    "downsample2d",
    "filter2d",
    "modulated_conv2d",
    "normalize_2nd_moment",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
