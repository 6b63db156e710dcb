"""Operations the augmentation pipeline needs: 2-D/3-D homogeneous matrices and a grid_sample
that supports double backward.

PyTorch's grid_sample has no derivative of its own backward, and the R1 penalty differentiates
D(augment(x)) with respect to x and then backpropagates through that gradient. grid_sample is
linear in its input, so the backward with respect to the input is the adjoint operator, and the
adjoint of the adjoint is grid_sample again: two small autograd Functions express that. (No
gradient flows into the sampling grid: augmentation parameters are random, not learned.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _stack(rows, device, batch_shape) -> torch.Tensor:
    """A batch of matrices from rows of scalars or [N] tensors."""
    return torch.stack([torch.stack([torch.as_tensor(v, dtype=torch.float32, device=device).expand(batch_shape)
                                     for v in row], dim=-1) for row in rows], dim=-2)


def _batch_shape(*values) -> torch.Size:
    shapes = [v.shape for v in values if isinstance(v, torch.Tensor)]
    return torch.broadcast_shapes(*shapes) if shapes else torch.Size([])


def translate2d(tx, ty, device=None) -> torch.Tensor:
    b = _batch_shape(tx, ty)
    return _stack([[1, 0, tx], [0, 1, ty], [0, 0, 1]], device, b)


def scale2d(sx, sy, device=None) -> torch.Tensor:
    b = _batch_shape(sx, sy)
    return _stack([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], device, b)


def rotate2d(theta: torch.Tensor, device=None) -> torch.Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return _stack([[c, -s, 0], [s, c, 0], [0, 0, 1]], device or theta.device, theta.shape)


def translate3d(t: torch.Tensor) -> torch.Tensor:
    """[N] -> [N, 4, 4]: translate all three colour axes by t."""
    return _stack([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]], t.device, t.shape)


def scale3d(s: torch.Tensor) -> torch.Tensor:
    return _stack([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]], s.device, s.shape)


def rotate3d(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rotation by theta [N] around the unit vector axis [3] (Rodrigues), as [N, 4, 4]."""
    x, y, z = axis[0], axis[1], axis[2]
    c, s = torch.cos(theta), torch.sin(theta)
    k = 1 - c
    return _stack([[x * x * k + c, x * y * k - z * s, x * z * k + y * s, 0],
                   [y * x * k + z * s, y * y * k + c, y * z * k - x * s, 0],
                   [z * x * k - y * s, z * y * k + x * s, z * z * k + c, 0],
                   [0, 0, 0, 1]], theta.device, theta.shape)


class _GridSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(images, grid)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        images, grid = ctx.saved_tensors
        return _GridSampleAdjoint.apply(grad_out, images, grid), None


class _GridSampleAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, grad_out: torch.Tensor, images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(grid)
        grad_in, _ = torch.ops.aten.grid_sampler_2d_backward(grad_out, images, grid, 0, 0, False, [True, False])
        return grad_in

    @staticmethod
    def backward(ctx, grad2: torch.Tensor):
        (grid,) = ctx.saved_tensors
        return _GridSample.apply(grad2, grid), None, None


def grid_sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear grid_sample (zeros padding, align_corners=False) with double backward in `images`."""
    return _GridSample.apply(images, grid.detach())
