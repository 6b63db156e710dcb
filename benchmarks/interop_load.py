"""Loading official network files at full size: seconds per load and parameter counts.

    PYTHONPATH=src python benchmarks/interop_load.py [--resolution 1024] [--rounds 3]

Writes, in a temporary folder, full-size files in the official layouts from random tensors (the
test fixtures' builders): a StyleGAN (v1) TF pickle (config F), a StyleGAN2 TF pickle (config F)
and a stylegan2-ada-pytorch snapshot (config F, as converted by legacy.py). For each it reports the
file size, the parameter counts of G_ema and D after conversion (at 1024x1024 the v1 counts must
be the official 26,219,627 and 23,087,249), and the median over several rounds, alternating the
sides in one process, of: `facegan.load(pkl)` (G_ema only), `load_any(pkl)` (G, D and G_ema, what
every load built before), `facegan.convert`, and `facegan.load` of the converted `.safetensors`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import facegan  # noqa: E402
from facegan.interop import convert, load_any  # noqa: E402
from facegan.networks import StyleGAN2Config, StyleGANConfig, build_discriminator, build_generator  # noqa: E402


def v1_file(path: Path, resolution: int) -> None:
    from interop_fixtures import split_scopes, tf_network, write_tf_pickle
    from test_stylegan1_reference import tf_discriminator_vars, tf_generator_vars

    cfg = StyleGANConfig(resolution=resolution)
    kw = dict(num_channels=3, resolution=resolution, label_size=0)

    def generator(name):
        own, parts = split_scopes(tf_generator_vars(build_generator(cfg)),
                                  {"mapping": "G_mapping", "synthesis": "G_synthesis"})
        own["lod"] = np.float32(0)
        comps = {"synthesis": tf_network("G_synthesis", "G_synthesis", parts["synthesis"], kw, 3),
                 "mapping": tf_network("G_mapping", "G_mapping", parts["mapping"],
                                       {**kw, "dlatent_broadcast": cfg.num_layers}, 3)}
        return tf_network(name, "G_style", own, kw, 3, comps)

    D = tf_network("D", "D_basic", tf_discriminator_vars(build_discriminator(cfg)), kw, 3)
    write_tf_pickle(path, generator("G"), D, generator("Gs"))


def stylegan2_tf_file(path: Path, resolution: int) -> None:
    from test_interop_stylegan2_tf import SPECS, write_fixture

    kw = dict(num_channels=3, resolution=resolution, label_size=0, fmap_base=16 << 10, fmap_max=512)
    spec = {**SPECS["config-f"], "G": dict(kw, latent_size=512, dlatent_size=512, mapping_layers=8), "D_kw": dict(kw)}
    write_fixture(path, spec, seed=0)


def snapshot_file(path: Path, resolution: int) -> None:
    from interop_fixtures import write_snapshot

    cfg = StyleGAN2Config(resolution=resolution)
    G = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
             mapping_kwargs=dict(num_layers=8), synthesis_kwargs=dict(channel_base=32768, channel_max=512))
    D = dict(c_dim=0, img_resolution=resolution, img_channels=3, channel_base=32768, channel_max=512,
             block_kwargs={}, mapping_kwargs={}, epilogue_kwargs=dict(mbstd_group_size=4))
    nets = {"G": build_generator(cfg), "D": build_discriminator(cfg), "G_ema": build_generator(cfg)}
    write_snapshot(path, nets, {"G": G, "G_ema": G, "D": D}, "")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def parameters(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    results = {"resolution": args.resolution, "rounds": args.rounds, "files": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, write in (("stylegan-tf", v1_file), ("stylegan2-tf", stylegan2_tf_file),
                            ("stylegan2-ada-pytorch", snapshot_file)):
            pkl, st = tmp / f"{name}.pkl", tmp / f"{name}.safetensors"
            write(pkl, args.resolution)
            loaded = load_any(pkl)
            convert(pkl, st)
            sides = {
                "load G_ema (s)": lambda pkl=pkl: facegan.load(pkl),
                "load G, D, G_ema (s)": lambda pkl=pkl: load_any(pkl),
                "convert (s)": lambda pkl=pkl, st=st: convert(pkl, st),
                "load converted G_ema (s)": lambda st=st: facegan.load(st),
            }
            times: dict[str, list[float]] = {k: [] for k in sides}
            for _ in range(args.rounds):  # alternate the sides in every round
                for key, fn in sides.items():
                    times[key].append(timed(fn))
            results["files"][name] = {
                "file MB": round(pkl.stat().st_size / 2 ** 20, 1),
                "G_ema parameters": parameters(loaded.networks["G_ema"]),
                "D parameters": parameters(loaded.networks["D"]),
                **{k: round(statistics.median(v), 2) for k, v in times.items()},
            }
            del loaded
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
