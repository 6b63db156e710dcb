"""Network files in and out: our `.safetensors` format and the official NVIDIA files.

    load_network(path)        a ready generator (G_ema) from any supported file
    load_any(path)            every network in the file, its config and format
    convert(src, dest)        an official pickle -> our .safetensors (G, D and G_ema)

Official pickles are read with a restricted unpickler (`facegan.interop.unpickler`): nothing in
the file is executed, and a pickle that asks for anything outside the formats is refused.
"""

from facegan.interop.convert import ConversionReport, convert
from facegan.interop.load import FORMATS, LoadedNetworks, load_any, load_network, load_official

__all__ = ["FORMATS", "ConversionReport", "LoadedNetworks", "convert", "load_any", "load_network", "load_official"]
