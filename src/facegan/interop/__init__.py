"""Network files in: our `.safetensors` format and the official NVIDIA files.

    load_network(path)        a ready network (G_ema, G or D) from any supported file (= facegan.load)
    load_any(path)            the networks in the file, its config and format
    convert(src, dest)        an official pickle -> our .safetensors (G, D and G_ema, with provenance)
    read_pickle(path)         the restricted unpickler itself: what a network pickle holds

Supported official files: StyleGAN (v1) TensorFlow pickles, StyleGAN2 and StyleGAN2-ADA TensorFlow
pickles, stylegan2-ada-pytorch network pickles (docs/pretrained.md). They are read with a restricted
unpickler (`facegan.interop.unpickler`): nothing in the file is executed, and a pickle that asks for
anything outside its format's allow-list is refused with an UnsafePickleError naming it.
"""

from facegan.interop.convert import ConversionReport, convert
from facegan.interop.load import FORMATS, LoadedNetworks, load_any, load_network, load_official
from facegan.interop.unpickler import PickleContents, read_pickle

__all__ = ["FORMATS", "ConversionReport", "LoadedNetworks", "PickleContents", "convert", "load_any", "load_network",
           "load_official", "read_pickle"]
