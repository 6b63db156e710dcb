"""Could a different convolution algorithm beat oneDNN's direct convolutions on this CPU?

    PYTHONPATH=src python benchmarks/conv_algorithms.py [--rounds 5] [--dtype fp32|bf16] [--shapes gen256,train64]

StyleGAN2's time on a CPU is its 3x3 convolutions (80-90% of a config-F forward pass), and oneDNN
already runs them near the CPU's arithmetic peak, so the only lever left is doing less arithmetic.
This script measures the two candidates on the layer shapes of config F at 256² (`gen256`, batch 1
and 8) and of the `sg2-64` training config (`train64`, batch 8), timing each side alternately in
one process and quoting the median of the per-round ratios:

- stride-1 layers (conv1 of every block): Winograd F(4x4, 3x3) (Lavin & Gray 2016), which needs
  2.25 multiplications per output where a direct 3x3 convolution needs 9. Written in plain PyTorch
  ops: the 6x6 input tiles are gathered by one strided copy, transformed by one matrix product with
  B^T (x) B^T, multiplied with the transformed weights by one batched matrix product per tile
  position, transformed back by A^T (x) A^T and scattered into place.
- 2x up-sampling layers (conv0): the stride-2 transposed convolution against the same operation as
  one ordinary 2x2 convolution with 4x the output channels (one per output phase, with zero taps
  where a phase does not use the tap), followed by the interleaving copy.

It prints JSON: per shape, the seconds of each side, the speed-up and the largest error relative to
the largest output. Neither algorithm is used by the networks; docs/benchmarks.md says why.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from _machine import machine  # benchmarks/_machine.py

F64 = torch.float64
B_T = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=F64)
G_ = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=F64)
A_T = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=F64)

# (batch, in channels, out channels, input side) of the layers, as config F at 256² and sg2-64 have them.
SHAPES = {
    "gen256": {"stride1": [(b, 512, 512, r) for b in (1, 8) for r in (16, 32, 64)]
               + [(b, 256, 256, 128) for b in (1, 8)] + [(b, 128, 128, 256) for b in (1, 8)],
               "up2": [(b, 512, 256, 64) for b in (1, 8)] + [(b, 256, 128, 128) for b in (1, 8)]},
    "train64": {"stride1": [(8, 512, 512, 16), (8, 512, 512, 32), (8, 256, 256, 64)],
                "up2": [(8, 512, 256, 32)]},
}


def winograd_weights(w: torch.Tensor) -> torch.Tensor:
    """[K, C, 3, 3] -> U [36, C, K] (G w G^T for every (out, in) pair)."""
    K, C = w.shape[:2]
    return torch.einsum("iu,kcuv,jv->ijck", G_, w.double(), G_).reshape(36, C, K).to(w.dtype).contiguous()


def winograd_conv3x3(x: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """F(4x4, 3x3) convolution with padding 1 of a channels_last x [N, C, H, W]."""
    N, C, H, W = x.shape
    nh, nw = (H + 3) // 4, (W + 3) // 4
    xp = x.new_zeros(N, 4 * nh + 2, 4 * nw + 2, C)
    xp[:, 1:H + 1, 1:W + 1] = x.permute(0, 2, 3, 1)
    s = xp.stride()
    tiles = xp.as_strided((6, 6, N, nh, nw, C), (s[1], s[2], s[0], 4 * s[1], 4 * s[2], 1)).reshape(36, -1)
    V = torch.mm(torch.kron(B_T, B_T).to(x.dtype), tiles).view(36, N * nh * nw, C)
    M = torch.bmm(V, U)                                                            # [36, tiles, K]
    K = U.shape[-1]
    Y = torch.mm(torch.kron(A_T, A_T).to(x.dtype), M.view(36, -1)).view(4, 4, N, nh, nw, K)
    out = x.new_empty(N, nh, 4, nw, 4, K)
    out.copy_(Y.permute(2, 3, 0, 4, 1, 5))
    return out.view(N, 4 * nh, 4 * nw, K)[:, :H, :W].permute(0, 3, 1, 2)


def phase_weights(w_t: torch.Tensor) -> torch.Tensor:
    """Transposed-conv weight [I, O, 3, 3] -> [4O, I, 2, 2]: one output block per phase (a, b)."""
    I, O = w_t.shape[:2]
    w = w_t.transpose(0, 1)                             # [O, I, 3, 3]: y[2m + a] += x[m - d] w[a + 2d]
    out = w.new_zeros(2, 2, O, I, 2, 2)
    taps = {0: ((0, 2), (1, 0)), 1: ((1, 1),)}          # phase -> (tap in the 2x2 window, tap of w)
    for a in (0, 1):
        for b in (0, 1):
            for ui, ki in taps[a]:
                for vi, kj in taps[b]:
                    out[a, b, :, :, ui, vi] = w[:, :, ki, kj]
    return out.reshape(4 * O, I, 2, 2)


def polyphase_up2(x: torch.Tensor, wp: torch.Tensor) -> torch.Tensor:
    """conv_transpose2d(x, w_t, stride=2) as one 2x2 convolution and an interleaving copy."""
    N, _, H, W = x.shape
    O = wp.shape[0] // 4
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), wp)            # [N, 4O, H + 1, W + 1]
    y = y.permute(0, 2, 3, 1).reshape(N, H + 1, W + 1, 2, 2, O)
    out = x.new_empty(N, H + 1, 2, W + 1, 2, O)
    out.copy_(y.permute(0, 1, 3, 2, 4, 5))
    return out.view(N, 2 * H + 2, 2 * W + 2, O)[:, :2 * H + 1, :2 * W + 1].permute(0, 3, 1, 2)


def compare(direct, other, rounds: int) -> tuple[float, float, float, float]:
    ref, out = direct(), other()                        # warm-up, and the outputs to compare
    err = ((out.float() - ref.float()).abs().max() / ref.float().abs().max()).item()
    t_direct, t_other = [], []
    for _ in range(rounds):
        for fn, acc in ((direct, t_direct), (other, t_other)):
            start = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - start)
    ratio = statistics.median(d / o for d, o in zip(t_direct, t_other))
    return statistics.median(t_direct), statistics.median(t_other), ratio, err


def sides(kind: str, n: int, c: int, k: int, r: int, dtype: torch.dtype):
    """(algorithm name, the direct oneDNN operation, the candidate) for one layer shape."""
    x = torch.randn(n, c, r, r).to(dtype).contiguous(memory_format=torch.channels_last)
    if kind == "stride1":
        w = (torch.randn(k, c, 3, 3) / (9 * c) ** 0.5).to(dtype)
        U = winograd_weights(w)
        return "winograd_f4x4_3x3", lambda: F.conv2d(x, w, padding=1), lambda: winograd_conv3x3(x, U)
    w_t = (torch.randn(c, k, 3, 3) / (9 * c) ** 0.5).to(dtype)
    wp = phase_weights(w_t).contiguous()
    return "polyphase_2x2", lambda: F.conv_transpose2d(x, w_t, stride=2), lambda: polyphase_up2(x, wp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--shapes", default="gen256,train64")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    rows = []
    torch.manual_seed(0)
    with torch.inference_mode():
        for group in args.shapes.split(","):
            for kind, shapes in SHAPES[group].items():
                for n, c, k, r in shapes:
                    name, direct, other = sides(kind, n, c, k, r, dtype)
                    t_d, t_o, ratio, err = compare(direct, other, args.rounds)
                    rows.append({"group": group, "layer": kind, "batch": n, "in": c, "out": k, "input_side": r,
                                 "algorithm": name, "direct_s": round(t_d, 4), "algorithm_s": round(t_o, 4),
                                 "speedup_median": round(ratio, 3), "max_rel_error": float(f"{err:.2e}")})
                    print(json.dumps(rows[-1]), flush=True, file=sys.stderr)
    print(json.dumps({**machine(), "dtype": args.dtype, "rounds": args.rounds, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
