"""StyleGAN3's filter design, filtered lrelu and layer schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facegan.networks import stylegan3_preset
from facegan.networks.stylegan3 import StyleGAN3Generator
from facegan.nn.filter_design import design_lowpass_filter, firwin, jinc_filter, kaiser_atten, kaiser_beta
from facegan.nn.filtered_lrelu import filtered_lrelu, filtered_lrelu_reference

# (numtaps, cutoff, width, fs) of StyleGAN3 layers: T at 1024², L0 up, L2 up (4x), L10 down, L13 down.
SETTINGS = [(12, 2.0, 12.0, 32), (24, 3.17, 9.66, 64), (12, 203.19, 617.6, 2048), (12, 512.0, 236.6, 2048)]


@pytest.mark.parametrize("numtaps,cutoff,width,fs", SETTINGS)
def test_kaiser_design_matches_scipy_firwin(numtaps, cutoff, width, fs):
    signal = pytest.importorskip("scipy.signal")
    np.testing.assert_allclose(firwin(numtaps, cutoff, width, fs),
                               signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs), atol=1e-15)
    assert kaiser_beta(kaiser_atten(numtaps, width / (fs / 2))) == pytest.approx(
        signal.kaiser_beta(signal.kaiser_atten(numtaps, width / (fs / 2))), abs=1e-12)


@pytest.mark.parametrize("numtaps,cutoff,width,fs", SETTINGS[:2])
def test_radial_filter_matches_the_jinc_formula_with_scipy(numtaps, cutoff, width, fs):
    signal, special = pytest.importorskip("scipy.signal"), pytest.importorskip("scipy.special")

    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    w = np.kaiser(numtaps, signal.kaiser_beta(signal.kaiser_atten(numtaps, width / (fs / 2))))
    f = f * np.outer(w, w)
    np.testing.assert_allclose(jinc_filter(numtaps, cutoff, width, fs), f / f.sum(), atol=1e-12)


def test_one_tap_means_no_filter_and_filters_have_unit_dc_gain():
    assert design_lowpass_filter(1, 2.0, 4.0, 32) is None
    f = design_lowpass_filter(12, 2.0, 12.0, 32)
    assert f.dtype == torch.float32 and f.shape == (12,) and float(f.sum()) == pytest.approx(1, abs=1e-6)
    g = design_lowpass_filter(12, 2.0, 12.0, 32, radial=True)
    assert g.shape == (12, 12) and float(g.sum()) == pytest.approx(1, abs=1e-6)
    np.testing.assert_allclose(g.numpy(), g.numpy().T)  # radially symmetric


LAYERS = pytest.mark.parametrize("up,down,taps_up,taps_down,padding,radial", [
    (2, 2, 12, 12, [9, 8, 9, 8], False),       # T L0
    (4, 2, 24, 12, [-6, -9, -6, -9], False),   # T L2
    (2, 2, 12, 12, [11, 10, 11, 10], True),    # R L0
    (4, 2, 24, 12, [-2, -5, -2, -5], True),    # R L2
    (1, 1, 1, 1, [0, 0, 0, 0], False),         # ToRGB
    (3, 1, 9, 3, [1, 2, 3, 0], False),         # odd factors and uneven padding
])


def filtered_lrelu_case(up, down, taps_up, taps_down, padding, radial):
    """x and filtered_lrelu's other arguments (gain sqrt(2), slope 0.2, clamp 1.5), float64."""
    gen = torch.Generator().manual_seed(up * 10 + down)
    x = torch.randn([2, 3, 14, 15], generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn([3], generator=gen, dtype=torch.float64)
    fu = torch.rand([taps_up], generator=gen, dtype=torch.float64) / taps_up * 2 if taps_up > 1 else None
    fd = (torch.rand([taps_down] * (2 if radial else 1), generator=gen, dtype=torch.float64) / taps_down
          if taps_down > 1 else None)
    return x, (fu, fd, b, up, down, padding, 2 ** 0.5, 0.2, 1.5)


@LAYERS
@pytest.mark.parametrize("small", [True, False], ids=["convolutions", "multiply-adds"])
def test_filtered_lrelu_equals_the_reference_composition(up, down, taps_up, taps_down, padding, radial, small,
                                                         monkeypatch):
    import facegan.nn.filtered_lrelu as flr

    monkeypatch.setattr(flr, "SMALL_ELEMENTS", 1 << 40 if small else 0)
    x, args = filtered_lrelu_case(up, down, taps_up, taps_down, padding, radial)
    ours, ref = filtered_lrelu(x, *args), filtered_lrelu_reference(x, *args)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    unclamped = filtered_lrelu_reference(x, *args[:-1], None)
    assert not torch.allclose(ref, unclamped)  # the clamp is active
    g_ours, = torch.autograd.grad(ours.square().sum(), x)
    g_ref, = torch.autograd.grad(ref.square().sum(), x)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-10, atol=1e-10)
    with torch.no_grad():  # the inference path (in-place activation, channel chunks)
        torch.testing.assert_close(filtered_lrelu(x, *args), ref.detach(), rtol=1e-12, atol=1e-12)


@LAYERS
def test_the_traced_form_of_filtered_lrelu_equals_the_reference_composition(up, down, taps_up, taps_down, padding,
                                                                            radial, monkeypatch):
    """What torch.export and the ONNX exporter trace (torch.compiler.is_compiling() is True): depthwise
    convolutions, the gain in the up filter, the up filter's surplus outputs cropped after the down
    filter; without autograd (the ONNX export), in at most TRACED_CHUNKS channel chunks."""
    import facegan.nn.filtered_lrelu as flr

    x, args = filtered_lrelu_case(up, down, taps_up, taps_down, padding, radial)
    ref = filtered_lrelu_reference(x, *args)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    traced = filtered_lrelu(x, *args)
    assert traced.shape == ref.shape
    torch.testing.assert_close(traced, ref, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(flr, "CHUNK_ELEMENTS", 1)  # as small as can be: one channel per chunk (3 <= TRACED_CHUNKS)
    with torch.no_grad():
        torch.testing.assert_close(filtered_lrelu(x, *args), ref.detach(), rtol=1e-12, atol=1e-12)


def test_filtered_lrelu_in_channel_chunks_equals_one_pass(monkeypatch):
    import facegan.nn.filtered_lrelu as flr

    x, b = torch.randn([1, 7, 10, 10]), torch.randn(7)
    fu, fd = torch.rand(12), torch.rand(12)
    with torch.no_grad():
        whole = flr.filtered_lrelu(x, fu, fd, b, 2, 2, [9, 8, 9, 8])
        monkeypatch.setattr(flr, "CHUNK_ELEMENTS", 2 * 10 * 10 * 4)  # two channels per chunk
        chunked = flr.filtered_lrelu(x, fu, fd, b, 2, 2, [9, 8, 9, 8])
    torch.testing.assert_close(chunked, whole)


# The published module names (printed official networks; 256² R from an official dump).
PUBLISHED = {
    ("stylegan3-t", 1024): ["L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512",
                            "L6_148_512", "L7_276_323", "L8_276_203", "L9_532_128", "L10_1044_81", "L11_1044_51",
                            "L12_1044_32", "L13_1024_32", "L14_1024_3"],
    ("stylegan3-r", 1024): ["L0_36_1024", "L1_36_1024", "L2_52_1024", "L3_52_1024", "L4_84_1024", "L5_148_1024",
                            "L6_148_1024", "L7_276_645", "L8_276_406", "L9_532_256", "L10_1044_161",
                            "L11_1044_102", "L12_1044_64", "L13_1024_64", "L14_1024_3"],
    ("stylegan3-t", 512): ["L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_84_512",
                           "L6_148_512", "L7_148_483", "L8_276_323", "L9_276_215", "L10_532_144", "L11_532_96",
                           "L12_532_64", "L13_512_64", "L14_512_3"],
    ("stylegan3-t", 256): ["L0_36_512", "L1_36_512", "L2_36_512", "L3_52_512", "L4_52_512", "L5_84_512",
                           "L6_84_512", "L7_148_512", "L8_148_512", "L9_148_362", "L10_276_256", "L11_276_181",
                           "L12_276_128", "L13_256_128", "L14_256_3"],
}


@pytest.mark.parametrize("cfg,res", list(PUBLISHED))
def test_layer_schedule_gives_the_published_layer_names(cfg, res):
    assert stylegan3_preset(cfg, res).schedule.names == PUBLISHED[cfg, res]


def test_layer_schedule_at_1024_matches_the_paper_table():
    s = stylegan3_preset("stylegan3-t", 1024).schedule
    assert s.sampling_rates == (16, 16, 32, 32, 64, 128, 128, 256, 256, 512, 1024, 1024, 1024, 1024, 1024)
    np.testing.assert_allclose(s.cutoffs[:4], [2, 3.1748, 5.0397, 8], atol=1e-4)
    assert s.cutoffs[12:] == (512.0, 512.0, 512.0)
    assert [layer.use_fp16 for layer in s.layers].index(True) == 5  # L5 onwards: sampling rate * 16 > 1024
    assert [layer.is_critically_sampled for layer in s.layers].count(True) == 3  # L12, L13, ToRGB


def test_paddings_and_parameter_counts_of_the_full_networks():
    """Built at meta size (no memory): the official paddings and the published parameter counts."""
    with torch.device("meta"):
        T = StyleGAN3Generator(stylegan3_preset("stylegan3-t", 1024), design_filters=False)
        R = StyleGAN3Generator(stylegan3_preset("stylegan3-r", 1024), design_filters=False)
    assert [T.synthesis.L0_36_512.padding, T.synthesis.L2_52_512.padding] == [[9, 8, 9, 8], [-6, -9, -6, -9]]
    assert [R.synthesis.L0_36_1024.padding, R.synthesis.L2_52_1024.padding] == [[11, 10, 11, 10], [-2, -5, -2, -5]]
    assert round(sum(p.numel() for p in T.parameters()) / 1e5) == 223  # 22.3 M
    assert round(sum(p.numel() for p in R.parameters()) / 1e5) == 151  # 15.1 M
    assert R.synthesis.L0_36_1024.down_filter.shape == (12, 12) and R.synthesis.L12_1044_64.down_filter.ndim == 1
