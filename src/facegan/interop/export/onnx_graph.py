"""A generator -> an ONNX graph: z and psi in, an image out (or its mapping or synthesis alone).

Graphs, by `part`:

    generator   z [N, z_dim] float32, psi [] float32 (, c [N, c_dim] float32 one-hot when conditional)
                -> img: uint8 [N, H, W, C] (output='uint8') or float32 [N, C, H, W] in [-1, 1] ('float')
    mapping     z, psi (, c) -> ws [N, num_ws, w_dim]
    synthesis   ws [N, num_ws, w_dim] -> img

psi is an input, applied (as in the official code) to the first `truncation_cutoff` layers of w,
a number fixed when exporting (default: the network's own, all layers for StyleGAN2 and DCGAN, 8
for StyleGAN v1's official networks). N is free. Noise: noise_mode='const' bakes the stored noise
buffers in (the same image for the same z, as facegan's and NVIDIA's 'const'); 'none' leaves the
noise out; per-call random noise is not offered (a graph with random ops gives different images
in every runtime). StyleGAN v1 runs at the level of detail it had when exported.

StyleGAN3 (generator and synthesis graphs) takes two more inputs, both optional:

    translate [2] float32 (x, y in image widths), rotate [] float32 (degrees)

which move the image as gen_images.py's --translate/--rotate do (the graph computes the inverse
transform that set_transform writes into the input's `transform` buffer), one value for the whole
batch, as psi. They are optional the ONNX way: an initializer of the same name holds the default
(the `translate`/`rotate` export options, else what the network's buffer holds), so a caller that
feeds only z and psi gets the image at the defaults (unmoved, unless given at export), as from any
other architecture's graph. onnxruntime lists them in get_overridable_initializers() rather than
get_inputs(), and logs a warning for each when a session loads the file. StyleGAN3 has no noise:
noise_mode changes nothing there. The traced StyleGAN3 runs its modulated convolutions as scaled
activations + one convolution (a grouped convolution's group count may not depend on N in a
graph) and its filtered lrelu as depthwise convolutions (channels folded into the batch made
onnxruntime pad each filter's single channel to its 8- or 16-channel block: 8 GB for a 256² image),
out of place, in at most 4 channel chunks per layer.

Exported with PyTorch's dynamo-based exporter (`torch.onnx.export(dynamo=True)`, which needs the
`onnxscript` package); the TorchScript-based one cannot export the modulated convolutions (their
weights are computed per sample, and it needs static kernel shapes). Its graph optimiser
(`optimize=True`, onnxscript 0.7) is replaced by its constant folding alone: the whole optimiser drops
the `+ 1e-8` of `rsqrt(var + 1e-8)`, so StyleGAN v1's instance norm turns a flat feature map (an
untrained network's constant input) into NaN. onnxruntime optimises the graph further when it
loads it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facegan.errors import ConfigError
from facegan.interop.export import ExportError, ExportReport
from facegan.networks.stylegan3 import get_transform, inverse_transform, is_stylegan3
from facegan.utils.atomic import atomic_path

PARTS = ("generator", "mapping", "synthesis")
BATCH_INPUTS = ("z", "c", "ws")          # the inputs whose first dimension is the batch size N
TRANSFORM_INPUTS = ("translate", "rotate")  # StyleGAN3's optional inputs (initializers as defaults)
OUTPUTS = ("uint8", "float")
NOISE_MODES = ("const", "none")
EXAMPLE_BATCH = 2  # an example batch of 1 would fix N at 1

log = logging.getLogger(__name__)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the exporter colours its messages


class GeneratorGraph(nn.Module):
    """What is exported: the generator's mapping and/or synthesis with psi (and StyleGAN3's
    translate and rotate) as tensor inputs, named and ordered as `graph_inputs` gives them."""

    def __init__(self, G: nn.Module, part: str, output: str, noise_mode: str, truncation_cutoff: int | None):
        super().__init__()
        self.G, self.part, self.output, self.noise_mode = G, part, output, noise_mode
        self.cutoff = truncation_cutoff
        lod = getattr(G.synthesis, "lod", None)  # StyleGAN v1: the level of detail, fixed in the graph
        self.lod = None if lod is None else float(lod)
        self.names = graph_inputs(G, part)[0]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = dict(zip(self.names, inputs))
        if self.part == "synthesis":
            return self._image(x["ws"], x)
        ws = self.G.mapping(x["z"], x.get("c"), truncation_psi=x["psi"].reshape(1).expand(self.G.num_ws),
                            truncation_cutoff=self.cutoff)
        return ws if self.part == "mapping" else self._image(ws, x)

    def _image(self, ws: torch.Tensor, x: dict[str, torch.Tensor]) -> torch.Tensor:
        extra = {} if self.lod is None else {"lod": self.lod}
        if "rotate" in x:
            extra["transform"] = inverse_transform(x["translate"], x["rotate"])
        img = self.G.synthesis(ws, noise_mode=self.noise_mode, **extra)
        if self.output == "float":
            return img
        return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)  # as facegan's to_uint8


def graph_inputs(G: nn.Module, part: str, translate: tuple[float, float] = (0.0, 0.0),
                 rotate: float = 0.0) -> tuple[tuple[str, ...], tuple[torch.Tensor, ...]]:
    """The input names and example tensors of a part (StyleGAN3's translate and rotate last, with
    their defaults as the examples)."""
    n = EXAMPLE_BATCH
    if part == "synthesis":
        names, tensors = ("ws",), (torch.zeros(n, G.num_ws, G.w_dim),)
    else:
        names, tensors = ("z", "psi"), (torch.randn(n, G.z_dim), torch.tensor(0.7))
        if G.c_dim:
            names, tensors = names + ("c",), tensors + (torch.eye(G.c_dim)[[0] * n],)
    if is_stylegan3(G) and part != "mapping":
        names, tensors = names + TRANSFORM_INPUTS, tensors + (torch.tensor(translate), torch.tensor(rotate))
    return names, tensors


def _check_options(G: nn.Module, part: str, output: str, noise_mode: str, truncation_cutoff: Any,
                   opset: Any, translate: Any, rotate: Any) -> None:
    for name, value, choices in (("part", part, PARTS), ("output", output, OUTPUTS),
                                 ("noise_mode", noise_mode, NOISE_MODES)):
        if value not in choices:
            raise ExportError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    if truncation_cutoff is not None:
        if part == "synthesis":
            raise ExportError("truncation_cutoff belongs to the mapping; the synthesis graph takes ws")
        if not isinstance(truncation_cutoff, int) or not 0 <= truncation_cutoff <= G.num_ws:
            raise ExportError(f"truncation_cutoff must be an integer from 0 to {G.num_ws}, got {truncation_cutoff!r}")
    if part == "mapping" and output != "uint8":
        raise ExportError("output applies to images; the mapping graph gives ws")
    if opset is not None and (not isinstance(opset, int) or opset < 18):
        raise ExportError(f"opset must be an integer >= 18 (the dynamo exporter's lowest), got {opset!r}")
    if translate is None and rotate is None:
        return
    if not is_stylegan3(G):
        raise ExportError("translate and rotate apply to StyleGAN3 networks only (they move the Fourier-feature "
                          "input, which earlier StyleGANs do not have)")
    if part == "mapping":
        raise ExportError("translate and rotate belong to the synthesis; the mapping graph gives ws")
    if translate is not None and not (isinstance(translate, (tuple, list)) and len(translate) == 2
                                      and all(_finite(v) for v in translate)):
        raise ExportError(f"translate must be two finite numbers (x, y), got {translate!r}")
    if rotate is not None and not _finite(rotate):
        raise ExportError(f"rotate must be a finite number of degrees, got {rotate!r}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _transform_defaults(G: nn.Module, translate: Any, rotate: Any) -> tuple[tuple[float, float], float]:
    """The translate and rotate inputs' defaults: the options given, else what the network's own
    transform buffer holds (identity, unless set_transform was called)."""
    try:
        own_translate, own_rotate = get_transform(G)
    except ConfigError as exc:
        if translate is None or rotate is None:
            raise ExportError(f"{exc}; give both translate and rotate to replace it") from exc
        own_translate, own_rotate = (0.0, 0.0), 0.0
    return (tuple(float(v) for v in (own_translate if translate is None else translate)),
            float(own_rotate if rotate is None else rotate))


def _require_packages() -> None:
    missing = [name for name in ("onnx", "onnxscript") if not _importable(name)]
    if missing:
        raise ExportError(f"ONNX export needs the {' and '.join(missing)} package(s): pip install 'facegan[onnx]'")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def export_onnx(config, nets: dict[str, nn.Module], path: Path, part: str = "generator", output: str = "uint8",
                noise_mode: str = "const", truncation_cutoff: int | None = None,
                opset: int | None = None, translate: tuple[float, float] | None = None,
                rotate: float | None = None) -> ExportReport:
    G = nets.get("G_ema", nets.get("G"))
    if G is None or not hasattr(G, "mapping"):
        raise ExportError("ONNX export writes a generator, and these networks have none")
    _check_options(G, part, output, noise_mode, truncation_cutoff, opset, translate, rotate)
    transform = is_stylegan3(G) and part != "mapping"
    if transform:
        translate, rotate = _transform_defaults(G, translate, rotate)
    _require_packages()
    notes = [] if "G_ema" in nets else ["there was no G_ema: G was exported"]
    if part != "synthesis" and truncation_cutoff is None:
        truncation_cutoff = getattr(G.mapping, "truncation_cutoff", None)
    G = copy.deepcopy(G).to("cpu", torch.float32).eval()  # the graph is float32; the caller's G stays as it was
    graph = GeneratorGraph(G, part, output, noise_mode, truncation_cutoff).eval()
    names, example = graph_inputs(G, part, *((translate, rotate) if transform else ()))
    batch = torch.export.Dim("batch")
    dynamic = tuple({0: batch} if name in BATCH_INPUTS else None for name in names)
    out_name = "ws" if part == "mapping" else "img"
    try:
        with atomic_path(path) as tmp, _quiet(), torch.no_grad():
            program = torch.onnx.export(graph, example, dynamo=True, input_names=list(names), output_names=[out_name],
                                        dynamic_shapes=(dynamic,), opset_version=opset, verbose=False,
                                        optimize=False)  # see the module docstring
            _fold_constants(program.model)
            if transform:
                _give_defaults(program.model, dict(zip(TRANSFORM_INPUTS, example[-2:])))
            program.save(str(tmp), external_data=False)
    except ExportError:
        raise
    except Exception as exc:  # the exporter's own errors name an operator or a shape
        message = _ANSI.sub("", str(exc)).splitlines()[0] if str(exc) else ""
        raise ExportError(f"the ONNX exporter failed on this {config.arch} network "
                          f"({type(exc).__name__}: {message})") from exc
    if part != "synthesis":
        notes.append(f"psi applies to the first {G.num_ws if truncation_cutoff is None else truncation_cutoff} of "
                     f"{G.num_ws} layers")
    if graph.lod is not None and graph.lod > 0:
        notes.append(f"the level of detail {graph.lod:g} (progressive growing) is fixed in the graph")
    if transform:
        notes.append(f"optional inputs translate [2] (default {translate[0]:g},{translate[1]:g}) and rotate [] "
                     f"(default {rotate:g} degrees) move the image as gen_images.py's --translate/--rotate")
    if is_stylegan3(G) and part != "mapping":
        notes.append("StyleGAN3 has no noise inputs: the noise mode changes nothing")
    inputs = ", ".join(names)
    return ExportReport(path, "onnx", f"{config.arch} {part}: {inputs} -> {out_name} "
                                      f"({'uint8 NHWC' if out_name == 'img' and output == 'uint8' else 'float32'}), "
                                      f"noise {noise_mode}", tuple(notes))


def _give_defaults(model, defaults: dict[str, torch.Tensor]) -> None:
    """Make graph inputs optional: an initializer of the same name is the input's default (ONNX IR
    >= 4), which a runtime uses unless the caller feeds the input (onnxruntime lists such inputs in
    get_overridable_initializers(), not get_inputs())."""
    import onnx_ir as ir

    graph = model.graph
    for value in graph.inputs:
        if value.name in defaults:
            value.const_value = ir.tensor(defaults[value.name].numpy().astype("float32"), name=value.name)
            graph.register_initializer(value)


def _fold_constants(model) -> None:
    """Fold the exporter's constant casts (onnxruntime cannot and warns about each) and drop what is unused."""
    from onnxscript import optimizer

    optimizer.fold_constants(model)
    optimizer.remove_unused_nodes(model)


@contextlib.contextmanager
def _quiet():
    """The exporter prints its progress to stdout and warns about optional packages; keep it in the log."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_logger = logging.getLogger("torch.onnx")
        level = onnx_logger.level
        onnx_logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            onnx_logger.setLevel(level)
            if buf.getvalue():
                log.debug("torch.onnx: %s", buf.getvalue())
