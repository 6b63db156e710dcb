"""facegan: StyleGAN face generation end to end.

The Python API is the product; the `facegan` command is a thin layer over it.

    >>> import facegan
    >>> G = facegan.load("network.safetensors")        # or an official NVIDIA pickle
    >>> images = G.run(latents, truncation_psi=0.7)     # uint8 NHWC
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load", "export", "FaceganError"]

from facegan.errors import FaceganError


def load(network, *, device="cpu", which="G_ema", requires_grad=False):
    """Load a ready generator from our `.safetensors` files or any supported official file.

    `network` is a path, an http(s) URL, `hf://owner/repo/file`, or the name of one of NVIDIA's
    networks (`facegan.load("ffhq")`; `facegan pretrained list` shows them): URLs and names are
    downloaded into the cache (`$FACEGAN_CACHE`) on first use. `which` picks the network inside a
    file that holds several (`G_ema`, `G` or `D`); when the file holds no `G_ema`, `G` is returned.
    The network comes in eval mode with its weights frozen, as generation, metrics and projection
    want it (inputs such as z still get gradients); `requires_grad=True` lets gradients reach the
    weights too (fine-tuning, weight analysis).
    """
    from facegan.interop import load_network
    from facegan.interop.registry import resolve_network

    return load_network(resolve_network(network), device=device, which=which, requires_grad=requires_grad)


def export(networks, path, *, format="nvidia", **options):
    """Write networks (a file, a generator, or a dict of G / D / G_ema) as NVIDIA's pickle or ONNX: see
    facegan.interop.export."""
    from facegan.interop.export import export as export_networks

    return export_networks(networks, path, format=format, **options)
