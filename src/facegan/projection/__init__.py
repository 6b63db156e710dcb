"""Projection: the latent (W or W+) that makes a generator reproduce a real photo, as the official
projector finds it. It comes after metrics in the data flow: its distance is LPIPS (VGG16, from
facegan.metrics) when the weights are at hand, else a documented fallback.

    import facegan
    from facegan.projection import load_target, make_loss, project, write_projection
    G = facegan.load("ffhq.pkl")
    target = load_target("me.jpg", G.img_resolution, G.img_channels)
    result = project(G, target, make_loss("auto"))
    write_projection(G, target, result, "out/")
"""

from facegan.projection.losses import LaplacianPyramidLoss, LPIPSLoss, ProjectionLoss, make_loss
from facegan.projection.outputs import write_projection
from facegan.projection.projector import Projection, ProjectionOptions, project
from facegan.projection.target import load_target

__all__ = [
    "LPIPSLoss",
    "LaplacianPyramidLoss",
    "Projection",
    "ProjectionLoss",
    "ProjectionOptions",
    "load_target",
    "make_loss",
    "project",
    "write_projection",
]
