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
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facegan.interop.export import ExportError, ExportReport
from facegan.utils.atomic import atomic_path

PARTS = ("generator", "mapping", "synthesis")
OUTPUTS = ("uint8", "float")
NOISE_MODES = ("const", "none")
EXAMPLE_BATCH = 2  # an example batch of 1 would fix N at 1

log = logging.getLogger(__name__)


class GeneratorGraph(nn.Module):
    """What is exported: the generator's mapping and/or synthesis with psi as a tensor input."""

    def __init__(self, G: nn.Module, part: str, output: str, noise_mode: str, truncation_cutoff: int | None):
        super().__init__()
        self.G, self.part, self.output, self.noise_mode = G, part, output, noise_mode
        self.cutoff = truncation_cutoff
        lod = getattr(G.synthesis, "lod", None)  # StyleGAN v1: the level of detail, fixed in the graph
        self.lod = None if lod is None else float(lod)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.part == "synthesis":
            return self._image(inputs[0])
        z, psi, c = inputs[0], inputs[1], (inputs[2] if len(inputs) > 2 else None)
        ws = self.G.mapping(z, c, truncation_psi=psi.reshape(1).expand(self.G.num_ws),
                            truncation_cutoff=self.cutoff)
        return ws if self.part == "mapping" else self._image(ws)

    def _image(self, ws: torch.Tensor) -> torch.Tensor:
        extra = {} if self.lod is None else {"lod": self.lod}
        img = self.G.synthesis(ws, noise_mode=self.noise_mode, **extra)
        if self.output == "float":
            return img
        return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)  # as facegan's to_uint8


def graph_inputs(G: nn.Module, part: str) -> tuple[tuple[str, ...], tuple[torch.Tensor, ...]]:
    """The input names and example tensors of a part."""
    n = EXAMPLE_BATCH
    if part == "synthesis":
        return ("ws",), (torch.zeros(n, G.num_ws, G.w_dim),)
    names, tensors = ("z", "psi"), (torch.randn(n, G.z_dim), torch.tensor(0.7))
    if G.c_dim:
        names, tensors = names + ("c",), tensors + (torch.eye(G.c_dim)[[0] * n],)
    return names, tensors


def _check_options(G: nn.Module, part: str, output: str, noise_mode: str, truncation_cutoff: Any,
                   opset: Any) -> None:
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


def _require_packages() -> None:
    missing = [name for name in ("onnx", "onnxscript") if not _importable(name)]
    if missing:
        raise ExportError(f"ONNX export needs the {' and '.join(missing)} package(s): pip install 'facegan[onnx]'")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def export_onnx(config, nets: dict[str, nn.Module], path: Path, part: str = "generator", output: str = "uint8",
                noise_mode: str = "const", truncation_cutoff: int | None = None,
                opset: int | None = None) -> ExportReport:
    G = nets.get("G_ema", nets.get("G"))
    if G is None or not hasattr(G, "mapping"):
        raise ExportError("ONNX export writes a generator, and these networks have none")
    _check_options(G, part, output, noise_mode, truncation_cutoff, opset)
    _require_packages()
    notes = [] if "G_ema" in nets else ["there was no G_ema: G was exported"]
    if part != "synthesis" and truncation_cutoff is None:
        truncation_cutoff = getattr(G.mapping, "truncation_cutoff", None)
    G = copy.deepcopy(G).to("cpu", torch.float32).eval()  # the graph is float32; the caller's G stays as it was
    graph = GeneratorGraph(G, part, output, noise_mode, truncation_cutoff).eval()
    names, example = graph_inputs(G, part)
    batch = torch.export.Dim("batch")
    dynamic = tuple({0: batch} if t.ndim > 0 else None for t in example)
    out_name = "ws" if part == "mapping" else "img"
    try:
        with atomic_path(path) as tmp, _quiet(), torch.no_grad():
            program = torch.onnx.export(graph, example, dynamo=True, input_names=list(names), output_names=[out_name],
                                        dynamic_shapes=(dynamic,), opset_version=opset, verbose=False,
                                        optimize=False)  # see the module docstring
            _fold_constants(program.model)
            program.save(str(tmp), external_data=False)
    except ExportError:
        raise
    except Exception as exc:  # the exporter's own errors name an operator or a shape
        raise ExportError(f"the ONNX exporter failed on this {config.arch} network "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if part != "synthesis":
        notes.append(f"psi applies to the first {G.num_ws if truncation_cutoff is None else truncation_cutoff} of "
                     f"{G.num_ws} layers")
    if graph.lod is not None and graph.lod > 0:
        notes.append(f"the level of detail {graph.lod:g} (progressive growing) is fixed in the graph")
    inputs = ", ".join(names)
    return ExportReport(path, "onnx", f"{config.arch} {part}: {inputs} -> {out_name} "
                                      f"({'uint8 NHWC' if out_name == 'img' and output == 'uint8' else 'float32'}), "
                                      f"noise {noise_mode}", tuple(notes))


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
