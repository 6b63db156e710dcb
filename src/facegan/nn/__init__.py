"""Building blocks of the networks, named as in the papers.

- `equalized`: linear and convolution layers with the equalised learning rate of ProGAN/StyleGAN.
- `resample`: FIR up/down-sampling (upfirdn2d) in pure PyTorch.
- `mbstd`: the minibatch standard deviation layer of the discriminators.
- `scale2d`: StyleGAN (v1) resampling: nearest upscale, box downscale, blur, fused up/down convs.
- `adain`: pixel norm, instance norm and style modulation (AdaIN) of StyleGAN (v1).
- `filter_design`: StyleGAN3's Kaiser-window and radial (jinc) low-pass filters.
- `filtered_lrelu`: StyleGAN3's upsample, leaky ReLU, clamp, downsample (polyphase and strided).
"""

from facegan.nn.equalized import EqualizedConv2d, EqualizedLinear
from facegan.nn.filter_design import design_lowpass_filter
from facegan.nn.mbstd import MinibatchStd
from facegan.nn.resample import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "EqualizedConv2d",
    "EqualizedLinear",
    "MinibatchStd",
    "design_lowpass_filter",
    "downsample2d",
    "filter2d",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
