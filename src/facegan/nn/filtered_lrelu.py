"""StyleGAN3's filtered leaky ReLU in pure PyTorch, without the official reference path's waste.

The maths (NVIDIA's `filtered_lrelu`, whose CPU "reference" path is a composition of upfirdn2d calls):

    x -> x + b -> upsample by `up` (zero insertion, pad, FIR fu with gain up²) -> lrelu(slope) * gain
      -> clamp to [-clamp, clamp] -> FIR fd, keep every `down`-th pixel

with `padding` (x0, x1, y0, y1) applied to the zero-inserted image. How it is computed here:

- upsampling is polyphase: the `up` sub-filters fu[k0 + up j] are run on the low-rate image, one
  output channel per phase, and the phases interleaved, so no multiplication by an inserted zero
  happens (up times fewer MACs per axis than zero insertion + full convolution);
- downsampling is a strided convolution: only the kept pixels are computed (down times fewer MACs
  per axis than filtering every pixel and slicing);
- separable (1-D) filters run one axis at a time; a 2-D (radial) down filter runs as one strided
  2-D convolution; each pass is one convolution for small tensors (few operations) and one
  multiply-add per tap over whole rows for large ones (memory bound; CPUs run depthwise 1-D kernels
  slowly);
- with autograd, the multiply-add paths run their adjoint (again one multiply-add per tap) as their
  backward, instead of autograd's slice, broadcast, sum and zero-filled copy per tap;
- the activation runs in place on the up-rate tensor, which is the only full-rate intermediate
  (every one of its pixels feeds the down filter); without autograd the channels are processed in
  chunks, so that intermediate never exists for all channels at once (peak memory);
- traced (torch.export, the ONNX exporter) the graph must not depend on the batch size and runs in
  other runtimes: every filter pass is a depthwise convolution (groups = C), the gain sits in the up
  filter, the activation runs out of place, and without autograd the channels go in at most
  TRACED_CHUNKS chunks sized for one sample (onnxruntime: see docs/benchmarks.md, ONNX).

Float16 inputs are filtered in float32 and returned in float16, as NVIDIA's CUDA kernel does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from facegan.nn.resample import _parse_padding

# Without autograd, process channels in chunks whose up-rate intermediate stays below this many elements.
CHUNK_ELEMENTS = 1 << 23
# A traced graph (the ONNX export) has at most this many chunks per layer: each is a copy of the ops.
TRACED_CHUNKS = 4
# Below this many output elements a pass runs as one convolution (few operations: small tensors are
# dominated by per-operation overhead); above, as one multiply-add per tap (large tensors are memory
# bound, and depthwise convolutions with 1-D kernels are slow on CPUs).
SMALL_ELEMENTS = 1 << 18


def _as_convolutions(elements) -> bool:
    """Whether an eager pass of this many output elements runs as convolutions. (A traced pass, for
    torch.compile, torch.export and the ONNX exporter, always does, as depthwise convolutions: the
    graph must not depend on the batch size; its callers branch to that form before asking.)"""
    return elements < SMALL_ELEMENTS


def _polyphase_up_1d(x: torch.Tensor, f: torch.Tensor, up: int, p0: int, p1: int, dim: int) -> torch.Tensor:
    """Along `dim` (2 = rows, 3 = columns) of [N, C, H, W]: zero-insert by `up`, pad (p0, p1), correlate
    with the (already flipped and gain-scaled) 1-D filter f; computed phase by phase."""
    n = x.shape[dim]
    L = f.shape[0]
    T = n * up + p0 + p1 - L + 1  # output length
    if T <= 0:
        raise ValueError(f"filtered_lrelu: padding {p0, p1} leaves no output for {n} pixels, up {up}, {L} taps")
    # Output t = up q + phi reads taps k = k0 + up j at input (q + c_phi + j); c_phi = (phi + k0 - p0) / up.
    k0 = [(p0 - phi) % up for phi in range(up)]
    c = [(phi + k0[phi] - p0) // up for phi in range(up)]
    c_min, c_max = min(c), max(c)
    J = max(len(range(k0[phi], L, up)) for phi in range(up))
    Jp = J + c_max - c_min
    taps = torch.zeros(up, Jp, dtype=f.dtype, device=f.device)
    for phi in range(up):
        sub = f[k0[phi]::up]
        start = c[phi] - c_min
        taps[phi, start:start + sub.shape[0]] = sub
    Q = -(-T // up)  # outputs per phase
    # Input needed: indices c_min .. c_min + Q + Jp - 2 (zeros outside [0, n)).
    lo, hi = c_min, c_min + Q + Jp - 1
    pad_lo, pad_hi = max(-lo, 0), max(hi - n, 0)
    crop_lo, crop_hi = max(lo, 0), min(hi, n)
    N, C, H, W = x.shape
    if torch.compiler.is_compiling():
        return _up_depthwise(x, taps, dim, Q, T, lo, hi)
    if _as_convolutions(N * C * (H if dim == 3 else W) * Q * up):
        # Small: one convolution of every phase (channels as batch), then interleave; few operations.
        if dim == 3:
            x = F.pad(x[:, :, :, crop_lo:crop_hi], [pad_lo, pad_hi])
            y = F.conv2d(x.reshape(N * C, 1, H, -1), taps.reshape(up, 1, 1, Jp))        # [NC, up, H, Q]
            return y.permute(0, 2, 3, 1).reshape(N, C, H, Q * up)[:, :, :, :T]
        x = F.pad(x[:, :, crop_lo:crop_hi, :], [0, 0, pad_lo, pad_hi])
        y = F.conv2d(x.reshape(N * C, 1, -1, W), taps.reshape(up, 1, Jp, 1))            # [NC, up, Q, W]
        return y.transpose(1, 2).reshape(N, C, Q * up, W)[:, :, :T, :]
    # Large: one streaming multiply-add per tap (memory bound, no copies).
    return _multiply_adds(x, taps, _up_large, _up_large_adjoint, (dim, Q, T, lo, hi))


def _depthwise(x: torch.Tensor, f: torch.Tensor, stride: tuple[int, int] = (1, 1)) -> torch.Tensor:
    """x [N, C, H, W] correlated with the 2-D kernel f, channel by channel (groups = C)."""
    C = x.shape[1]
    return F.conv2d(x, f.reshape(1, 1, *f.shape).expand(C, 1, *f.shape), stride=stride, groups=C)


def _up_depthwise(x: torch.Tensor, taps: torch.Tensor, dim: int, Q: int, T: int, lo: int, hi: int) -> torch.Tensor:
    """_polyphase_up_1d when traced: one depthwise convolution per phase, interleaved. The channels
    stay channels: folded into the batch as [N C, 1, H, W] (the small eager path), onnxruntime's
    blocked (NCHWc) layout pads each convolution's 1 input and `up` output channels to its block of
    8 or 16, and a 256² StyleGAN3-T image took 8 GB. All Q up outputs are returned, not the first T:
    the (up - 1) at most past the end are never read by the kept outputs of the down filter, and
    _filtered_lrelu_traced crops them after it, at its lower rate, instead of copying the full-rate
    tensor here."""
    n = x.shape[dim]
    pad_lo, pad_hi = max(-lo, 0), max(hi - n, 0)
    if dim == 3:
        x = F.pad(x[:, :, :, max(lo, 0):min(hi, n)], [pad_lo, pad_hi])
        y = torch.stack([_depthwise(x, t.reshape(1, -1)) for t in taps], dim=4)      # [N, C, H, Q, up]
        return y.flatten(3)
    x = F.pad(x[:, :, max(lo, 0):min(hi, n), :], [0, 0, pad_lo, pad_hi])
    y = torch.stack([_depthwise(x, t.reshape(-1, 1)) for t in taps], dim=3)          # [N, C, Q, up, W]
    return y.flatten(2, 3)


class _MultiplyAdds(torch.autograd.Function):
    """A linear map of x run as one multiply-add per tap (the large paths), with its adjoint, of the
    same kind, as the backward: autograd's own backward of those multiply-adds is a slice, a
    broadcast, a sum and a zero-filled copy per tap, and made a training step slower than NVIDIA's
    reference path. Filters that need a gradient keep autograd's (no official network trains one)."""

    @staticmethod
    def forward(ctx, x, f, run, adjoint, args):
        ctx.save_for_backward(f)
        ctx.adjoint, ctx.args, ctx.shape = adjoint, args, x.shape
        return run(x, f, *args)

    @staticmethod
    def backward(ctx, gy):
        (f,) = ctx.saved_tensors
        return ctx.adjoint(gy, f, ctx.shape, *ctx.args), None, None, None, None


def _multiply_adds(x: torch.Tensor, f: torch.Tensor, run, adjoint, args: tuple) -> torch.Tensor:
    """run(x, f, *args), with `adjoint` as its backward where x needs a gradient and f does not."""
    if f.requires_grad or not (torch.is_grad_enabled() and x.requires_grad):
        return run(x, f, *args)
    return _MultiplyAdds.apply(x, f, run, adjoint, args)


def _up_large(x: torch.Tensor, taps: torch.Tensor, dim: int, Q: int, T: int, lo: int, hi: int) -> torch.Tensor:
    """_polyphase_up_1d's large path: input indices lo .. hi - 1 (zeros outside), one multiply-add per tap."""
    N, C, H, W = x.shape
    n, up, Jp = x.shape[dim], taps.shape[0], taps.shape[1]
    pad_lo, pad_hi = max(-lo, 0), max(hi - n, 0)
    if dim == 3:  # along the rows: output [..., q, phase] is already the interleaved row
        x = x[:, :, :, max(lo, 0):min(hi, n)]
        if pad_lo or pad_hi:
            x = F.pad(x, [pad_lo, pad_hi])
        y = x.new_zeros([N, C, H, Q, up])
        for j in range(Jp):
            y.addcmul_(x[:, :, :, j:j + Q, None], taps[:, j])
        return y.reshape(N, C, H, Q * up)[:, :, :, :T]
    x = x[:, :, max(lo, 0):min(hi, n), :]
    if pad_lo or pad_hi:
        x = F.pad(x, [0, 0, pad_lo, pad_hi])
    y = x.new_zeros([N, C, Q, up, W])
    for j in range(Jp):  # whole rows at a time
        y.addcmul_(x[:, :, j:j + Q, None, :], taps[:, j].reshape(up, 1))
    return y.reshape(N, C, Q * up, W)[:, :, :T, :]


def _up_large_adjoint(gy: torch.Tensor, taps: torch.Tensor, shape, dim: int, Q: int, T: int, lo: int,
                      hi: int) -> torch.Tensor:
    """The gradient of _up_large with respect to x: input index lo + q + j gets taps[phase, j] times
    the gradient of output (q, phase), one multiply-add per tap and phase."""
    up, Jp = taps.shape
    n = shape[dim]
    gx = gy.new_zeros([*shape[:dim], hi - lo, *shape[dim + 1:]])   # the padded input's gradient
    if dim == 3:
        g = F.pad(gy, [0, Q * up - T]).reshape(*gy.shape[:3], Q, up)
        for j in range(Jp):
            for phi in range(up):
                gx[:, :, :, j:j + Q].addcmul_(g[..., phi], taps[phi, j])
        return F.pad(gx, [lo, n - hi])   # negative pads crop the zeros around the input
    g = F.pad(gy, [0, 0, 0, Q * up - T]).reshape(gy.shape[0], gy.shape[1], Q, up, gy.shape[3])
    for j in range(Jp):
        for phi in range(up):
            gx[:, :, j:j + Q, :].addcmul_(g[:, :, :, phi, :], taps[phi, j])
    return F.pad(gx, [0, 0, lo, n - hi])


def _pad_or_crop(x: torch.Tensor, px0: int, px1: int, py0: int, py1: int) -> torch.Tensor:
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    return x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]


def _upsample(x: torch.Tensor, fu: torch.Tensor | None, up: int, padding: tuple[int, int, int, int],
              flip_filter: bool) -> torch.Tensor:
    px0, px1, py0, py1 = padding
    if fu is None:
        fu = torch.ones([1], dtype=x.dtype, device=x.device)
    fu = fu.to(device=x.device, dtype=x.dtype)
    if not flip_filter:
        fu = fu.flip(list(range(fu.ndim)))
    if fu.ndim == 2:  # a non-separable up filter (never in the official networks): zero insertion + 2-D conv
        if up > 1:
            N, C, H, W = x.shape
            x = F.pad(x.reshape(N, C, H, 1, W, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(N, C, H * up, W * up)
        x = _pad_or_crop(x, px0, px1, py0, py1)
        C = x.shape[1]
        return F.conv2d(x, (fu * up ** 2).expand(C, 1, *fu.shape), groups=C)
    if up == 1 and fu.shape[0] == 1:
        return _pad_or_crop(x, px0, px1, py0, py1) * fu[0] ** 2
    g = fu * up  # gain up² shared by the two axes
    x = _polyphase_up_1d(x, g, up, px0, px1, dim=3)
    return _polyphase_up_1d(x, g, up, py0, py1, dim=2)


def _downsample(x: torch.Tensor, fd: torch.Tensor | None, down: int, flip_filter: bool) -> torch.Tensor:
    if fd is None:
        return x[:, :, ::down, ::down] if down > 1 else x
    fd = fd.to(device=x.device, dtype=x.dtype)
    if not flip_filter:
        fd = fd.flip(list(range(fd.ndim)))
    if fd.ndim == 2:
        C = x.shape[1]
        return F.conv2d(x.contiguous(), fd.expand(C, 1, *fd.shape), stride=down, groups=C)
    # Rows first, keeping only every down-th one (a multiply-add per tap over strided whole rows), then
    # the columns of what is left with one strided depthwise convolution.
    L = fd.shape[0]
    N, C, H, W = x.shape
    M = (H - L) // down + 1
    if torch.compiler.is_compiling():  # depthwise, the channels kept as channels (see _up_depthwise)
        return _depthwise(_depthwise(x, fd.reshape(L, 1), (down, 1)), fd.reshape(1, L), (1, down))
    if _as_convolutions(N * C * M * W):  # small: two strided convolutions, channels as batch
        y = F.conv2d(x.reshape(N * C, 1, H, W), fd.reshape(1, 1, L, 1), stride=(down, 1))
        y = F.conv2d(y, fd.reshape(1, 1, 1, L), stride=(1, down))
        return y.reshape(N, C, *y.shape[2:])
    y = _multiply_adds(x, fd, _down_rows, _down_rows_adjoint, (down, M))
    return F.conv2d(y, fd.reshape(1, 1, 1, L).expand(C, 1, 1, L), stride=(1, down), groups=C)


def _down_rows(x: torch.Tensor, fd: torch.Tensor, down: int, M: int) -> torch.Tensor:
    """The rows of _downsample's large path: every down-th output row, one multiply-add per tap."""
    y = x.new_zeros([x.shape[0], x.shape[1], M, x.shape[3]])
    for k in range(fd.shape[0]):
        y.addcmul_(x[:, :, k:k + down * (M - 1) + 1:down, :], fd[k])
    return y


def _down_rows_adjoint(gy: torch.Tensor, fd: torch.Tensor, shape, down: int, M: int) -> torch.Tensor:
    gx = gy.new_zeros(shape)
    for k in range(fd.shape[0]):
        gx[:, :, k:k + down * (M - 1) + 1:down, :].addcmul_(gy, fd[k])
    return gx


def _taps(f: torch.Tensor | None, axis: int) -> int:
    return 1 if f is None else f.shape[axis if f.ndim == 2 else 0]


def _filtered_lrelu_traced(x, fu, fd, up, down, padding, gain, slope, clamp, flip_filter):
    """_filtered_lrelu when traced: the same maths in fewer passes over the up-rate tensor (each one
    a copy of the largest tensor in an ONNX runtime): the gain in the up filter (lrelu(g x) =
    g lrelu(x) for g > 0), the clamp one Clip (float bounds: integer ones become a Max and a Min), and
    the up filter's surplus outputs cropped after the down filter (see _up_depthwise). Out of place:
    x is a view, and a traced in-place op on a view becomes a copy of its whole base (ONNX ScatterND)."""
    px0, px1, py0, py1 = padding
    size = [((n * up + p0 + p1 - _taps(fu, axis) + 1) - _taps(fd, axis)) // down + 1
            for n, p0, p1, axis in ((x.shape[2], py0, py1, 0), (x.shape[3], px0, px1, 1))]
    if gain > 0 and gain != 1:  # sqrt(gain) on each axis of a separable filter
        fu = torch.ones([1], dtype=x.dtype, device=x.device) if fu is None else fu.to(x.device, x.dtype)
        fu, gain = fu * (gain if fu.ndim == 2 else gain ** 0.5), 1
    x = _upsample(x, fu, up, padding, flip_filter)
    if slope != 1:
        x = F.leaky_relu(x, slope)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-float(clamp), float(clamp))
    return _downsample(x, fd, down, flip_filter)[:, :, :size[0], :size[1]]


def _filtered_lrelu(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    if torch.compiler.is_compiling():
        return _filtered_lrelu_traced(x, fu, fd, up, down, padding, gain, slope, clamp, flip_filter)
    x = _upsample(x, fu, up, padding, flip_filter)
    inplace = not torch.is_grad_enabled()  # (never reached when traced: see _filtered_lrelu_traced)
    if slope != 1:
        x = F.leaky_relu_(x, slope) if inplace else F.leaky_relu(x, slope)
    if gain != 1:
        x = x.mul_(gain) if inplace else x * gain
    if clamp is not None:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return _downsample(x, fd, down, flip_filter)


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                   b: torch.Tensor | None = None, up: int = 1, down: int = 1,
                   padding: int | Sequence[int] = 0, gain: float = 2 ** 0.5, slope: float = 0.2,
                   clamp: float | None = None, flip_filter: bool = False) -> torch.Tensor:
    """Bias, upsample (fu, gain up²), leaky ReLU * gain, clamp, downsample (fd) of x [N, C, H, W].

    fu/fd: 1-D (separable) or 2-D filters, None = no filtering (a single unit tap). Output size per
    axis: ((in * up + pad0 + pad1 - fu_taps + 1) - fd_taps) // down + 1, as NVIDIA's op.
    """
    if x.ndim != 4:
        raise ValueError(f"filtered_lrelu expects NCHW, got shape {tuple(x.shape)}")
    dtype = x.dtype
    if dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    padding = _parse_padding(padding)
    args = (fu, fd, up, down, padding, gain, slope, clamp, flip_filter)
    N, C, H, W = x.shape
    step = C
    if not torch.is_grad_enabled():  # chunks only without autograd
        if torch.compiler.is_compiling():  # a traced graph: sized for one sample (N is free), few chunks
            step = max(-(-C // TRACED_CHUNKS), CHUNK_ELEMENTS // max(H * W * up * up, 1))
        else:
            step = max(1, CHUNK_ELEMENTS // max(N * H * W * up * up, 1))
    if step >= C:
        y = _filtered_lrelu(x, fu, fd, b, *args[2:])
    else:
        parts = [_filtered_lrelu(x[:, i:i + step], fu, fd, None if b is None else b[i:i + step], *args[2:])
                 for i in range(0, C, step)]
        y = torch.cat(parts, dim=1)
    return y.to(dtype)


def filtered_lrelu_reference(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                             b: torch.Tensor | None = None, up: int = 1, down: int = 1,
                             padding: int | Sequence[int] = 0, gain: float = 2 ** 0.5, slope: float = 0.2,
                             clamp: float | None = None, flip_filter: bool = False) -> torch.Tensor:
    """The official reference path's composition, step by step (zero insertion, every pixel filtered,
    then sliced): the baseline of tests and benchmarks/filtered_lrelu.py, not used by the networks."""
    from facegan.nn.modulated import bias_act
    from facegan.nn.resample import upfirdn2d

    one = torch.ones([1], dtype=x.dtype, device=x.device)
    x = bias_act(x, b)
    x = upfirdn2d(x, one if fu is None else fu, up=up, padding=padding, flip_filter=flip_filter, gain=up ** 2)
    x = F.leaky_relu(x, slope) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, one if fd is None else fd, down=down, flip_filter=flip_filter)
