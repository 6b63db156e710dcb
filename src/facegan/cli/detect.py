"""`facegan detect`: train a real-vs-fake detector, evaluate it, and score photos (thin layer over
facegan.detection).

    facegan detect train --data faces.zip --network net.safetensors --kind spectral --out detector.safetensors
    facegan detect eval --detector detector.safetensors --data faces.zip --network net.safetensors \\
        --other-network other.safetensors --plot roc.png
    facegan detect --detector detector.safetensors photo1.png photo2.jpg
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from facegan.cli._common import aliased, device_option, global_quiet
from facegan.cli._network import NETWORK_PATH
from facegan.cli.types import PSI_MAX, PSI_MIN, Float, FloatList, Int, IntList, OutputFile

PHOTOS = "photos"


class DetectGroup(click.Group):
    """`facegan detect PHOTO...` scores photos; `train` and `eval` are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [PHOTOS, *args]
        return super().parse_args(ctx, args)


def check_output(path: Path) -> None:
    """Refuse an output path that cannot be written before any work starts (its folder is created)."""
    import tempfile

    from facegan.errors import ConfigError

    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write there ({exc.strerror or exc})") from None


@click.group(cls=DetectGroup, context_settings={"show_default": True})
def detect() -> None:
    """Spot generated faces: train a detector, evaluate it, score photos.

    \b
    facegan detect --detector FILE PHOTO...   the probability that each photo is generated
    facegan detect train ...                  train a detector (spectral or cnn)
    facegan detect eval ...                   AP and accuracy on held-out photos and unseen fakes
    """


@detect.command(PHOTOS, hidden=True)
@click.argument("photo", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--detector", "detector_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A detector file (detect train).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per photo instead of text.")
@device_option
def photos(photo, detector_path, as_json, device) -> None:
    """The probability that each PHOTO is generated, and the verdict at the calibrated threshold.

    \b
    Example:
    facegan detect --detector spectral.safetensors photo1.png photo2.jpg
    """
    from facegan.detection import load_detector, read_photo
    from facegan.utils.device import pick_device

    detector = load_detector(detector_path, device=pick_device(device))
    images = [read_photo(p) for p in photo]
    probs = detector.probabilities(images)
    verdicts = detector.verdicts(probs)
    width = max(len(str(p)) for p in photo)
    for path, p, fake in zip(photo, probs, verdicts):
        if as_json:
            click.echo(json.dumps({"photo": str(path), "p_generated": round(float(p), 6),
                                   "verdict": "generated" if fake else "real",
                                   "threshold": round(detector.info.threshold, 6)}))
        else:
            click.echo(f"{str(path):<{width}}  p(generated) = {p:.4f}  {'generated' if fake else 'real'}")
    if not as_json:
        click.echo(f"(verdicts at the calibrated threshold {detector.info.threshold:.4f} of this "
                   f"{detector.info.kind} detector)")


@detect.command()
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path), help="Archive of real photos.")
@click.option("--network", required=True, type=NETWORK_PATH,
              help="The generator whose fakes to spot (our .safetensors or an official pickle).")
@click.option("--kind", type=click.Choice(["spectral", "cnn"]), default="spectral",
              help="spectral: power spectrum + logistic regression (seconds on a CPU); cnn: a small ResNet.")
@aliased("--output", "out", aliases=("--out",), required=True, type=OutputFile((".safetensors",)),
         help="The detector file (.safetensors).")
@aliased("--trunc", "psis", aliases=("--psi",), type=FloatList(PSI_MIN, PSI_MAX), default="0.5,0.7,1.0",
         help="Truncation psi of the fakes.")
@click.option("--input-size", type=Int(8, 4096), default=None,
              help="Side the detector looks at (default: the network's resolution).")
@click.option("--holdout", type=Float(0, 1, max_open=True), default=0.2,
              help="Share of the photos kept out for detect eval.")
@click.option("--calibration", type=Float(0, 1, max_open=True), default=0.1,
              help="Share of the photos the threshold is calibrated on.")
@click.option("--split-seed", type=Int(0, 2**32 - 1), default=0, help="Seed of the split of the photos.")
@click.option("--fakes", type=Int(1), default=None,
              help="spectral: training fakes (default: as many as training photos).")
@click.option("--steps", type=Int(1), default=1000, help="cnn: minibatches.")
@click.option("--batch", type=Int(2), default=32, help="cnn: images per minibatch, half of them fakes.")
@click.option("--lr", type=Float(0, 10, min_open=True), default=1e-3, help="cnn: Adam learning rate.")
@click.option("--width", type=Int(1, 1024), default=32, help="cnn: channels of the first stage.")
@click.option("--blocks", type=IntList(), default="2,2,2", help="cnn: basic blocks per stage.")
@click.option("--no-augment", is_flag=True, help="cnn: no blur + JPEG augmentation.")
@click.option("--noise-mode", type=click.Choice(["const", "random", "none"]), default="const",
              help="Noise inputs of the fakes.")
@click.option("--seed", type=Int(0, 2**32 - 1), default=0, help="Weights, order and augmentation.")
@device_option
@click.option("--quiet", is_flag=True, hidden=True, default=global_quiet, help="No progress bars (facegan -q).")
def train(data, network, kind, out, psis, input_size, holdout, calibration, split_seed, fakes, steps, batch, lr,
          width, blocks, no_augment, noise_mode, seed, device, quiet) -> None:
    """Train a detector: photos of an archive against the network's fakes, generated on the fly.

    \b
    Examples:
    facegan detect train --data faces.zip --network net.safetensors --kind spectral --output spectral.safetensors
    facegan detect train --data faces.zip --network net.safetensors --kind cnn --output cnn.safetensors
    """
    from facegan.detection import BlurJpeg, DetectorTrainOptions, train_detector

    check_output(out)
    opts = DetectorTrainOptions(
        data=data, network=network, kind=kind, psis=tuple(psis), input_size=input_size, holdout=holdout,
        calibration=calibration, split_seed=split_seed, fakes=fakes, steps=steps, batch=batch, lr=lr, width=width,
        blocks=tuple(blocks), augment=BlurJpeg(0.0, 3.0, 0.0) if no_augment else BlurJpeg(),
        noise_mode=noise_mode, seed=seed, device=device)
    detector = train_detector(opts, progress=not quiet)
    detector.save(out)
    t = detector.info.training
    click.echo(f"{kind} detector: {t['fit_reals']} photos against {t['fakes']} fakes of {network.name}; "
               f"calibrated threshold {detector.info.threshold:.4f} on {t['calibration_reals']} photos and "
               f"{t['calibration_fakes']} fakes")
    click.echo(f"wrote {out}")


@detect.command("eval")
@click.option("--detector", "detector_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A detector file (detect train).")
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="Archive of real photos (the training one: its held-out photos are used).")
@click.option("--network", required=True, type=NETWORK_PATH,
              help="The network the detector was trained on.")
@click.option("--other-network", "other_networks", multiple=True, type=NETWORK_PATH,
              help="Another network (another seed or architecture): the generalisation number (repeatable).")
@aliased("--trunc", "psis", aliases=("--psi",), type=FloatList(PSI_MIN, PSI_MAX), default=None,
         help="Truncation psi (default: the training ones).")
@click.option("--fakes-per-psi", type=Int(1), default=None,
              help="Fakes per psi and network (default: as many as held-out photos).")
@aliased("--output", "out", aliases=("--out",), type=OutputFile((".json",)), default=None,
         help="Write the report as JSON here.")
@click.option("--plot", type=OutputFile((".png",)), default=None,
              help="Write the ROC curves and per-psi accuracy here (PNG).")
@device_option
def evaluate(detector_path, data, network, other_networks, psis, fakes_per_psi, out, plot, device) -> None:
    """AP, accuracy at 0.5 and at the calibrated threshold, per psi, on held-out photos and unseen fakes.

    \b
    Example:
    facegan detect eval --detector spectral.safetensors --data faces.zip --network net.safetensors \\
        --other-network other.safetensors --output report.json --plot report.png
    """
    from facegan.detection import evaluate_detector, format_report, load_detector, plot_report
    from facegan.utils.atomic import atomic_write_bytes

    for path in (out, plot):
        if path is not None:
            check_output(path)
    detector = load_detector(detector_path)
    report = evaluate_detector(detector, data, network, other_networks=other_networks, psis=psis,
                               fakes_per_psi=fakes_per_psi, device=device)
    click.echo(format_report(report))
    if out is not None:
        atomic_write_bytes(out, (json.dumps(report, indent=2) + "\n").encode())
        click.echo(f"wrote {out}")
    if plot is not None:
        plot_report(report, plot)
        click.echo(f"wrote {plot}")
