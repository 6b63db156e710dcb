"""The docs harness: finds the examples in README.md and docs/*.md and runs them (used by tests/test_docs.py).

What runs (the rules are spelled out for authors in docs/contributing.md):

- Every fenced block whose language is `python` (and Sybil's `<!-- invisible-code-block: python -->`
  set-up blocks) runs, in order, in one namespace per page, as a reader who pastes the page's
  blocks into one session would run them.
- Every command of a fenced `sh`, `bash`, `shell` or `console` block runs (in `console` blocks the
  lines that start with `$ `; elsewhere every line, `\\` continuations joined, `#` comments dropped).
  `facegan ...` runs in-process through the CLI's entry point (`facegan serve` as a real server
  process that must answer /healthz), `python ...` as a subprocess, `cp SRC DST` as a file copy. Any other
  program has no runner: mark it illustrative.
- Each page runs in a fresh scratch folder holding the tiny fixtures under the names the docs use
  (`faces.zip`, `ffhq.safetensors`, `stylegan2-ffhq-config-f.pkl`, `~/photos`, ...: `FIXTURE_NAMES`),
  with HOME pointing into it, so `~/photos` is a fixture too. A page that creates an archive
  (`--dest X` / `dest="X"`) starts without X.
- Sizes are scaled down by ONE table, `SUBSTITUTIONS` below (regular expressions applied to each
  command line and each Python line; docs/contributing.md shows it).
- `<!-- docs-test: skip reason="..." -->` right above a block marks it illustrative; the page must
  say so visibly on the line below the marker (`*Illustrative, not run by the tests: ...*`). A
  trailing `# illustrative: reason` comment marks one command of a shell block.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sybil import Document, Example
from sybil.parsers.markdown import CodeBlockParser

ROOT = Path(__file__).resolve().parents[1]
PYTHON_LANGS = ("python",)
SHELL_LANGS = ("sh", "bash", "shell", "console")


def doc_files() -> list[Path]:
    """README.md and every page of docs/ (a new page is picked up without touching the tests)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# -- the substitution table -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Substitution:
    pattern: str       # a regular expression, applied to one command line (sh) or one source line (python)
    replacement: str   # re.sub's replacement
    scope: str         # "sh", "python" or "both"
    why: str


SUBSTITUTIONS: tuple[Substitution, ...] = (
    Substitution(r"--cfg (?:auto|paper256|paper512|paper1024|stylegan2-config-f|stylegan-ffhq|stylegan-celebahq"
                 r"|cifar)\b",
                 "--cfg tiny", "sh", "the official presets build networks of millions of parameters; `tiny` is "
                 "the same architecture, small"),
    Substitution(r'cfg="paper256"', 'cfg="tiny"', "python", "as above"),
    Substitution(r"^(facegan train .*--kimg )[1-9]\d*\b", r"\g<1>0.032", "sh", "a run of kimg: one or two steps (one "
                 "more than a resumed one-step run)"),
    Substitution(r"--steps \d{3,}\b", "--steps 4", "sh", "a CNN detector: four steps, not hundreds"),
    Substitution(r"--fakes-per-psi \d+", "--fakes-per-psi 8", "sh", "8 fakes per psi, not 100"),
    Substitution(r"^(facegan train (?!.*--kimg)(?!.*(?:-n|--dry-run)\b).*)$", r"\1 --kimg 0.016", "sh",
                 "a run without --kimg would train for the preset's length"),
    Substitution(r"kimg=30000\b", "kimg=0.032", "python", "resuming a one-step run: one step more"),
    Substitution(r"--freezed 10\b", "--freezed 2", "sh", "`tiny`'s D has 10 layers: freeze 2 of them"),
    Substitution(r'resolve_options\("faces\.zip",', 'resolve_options("faces.zip", kimg=0.016,', "python",
                 "as above"),
    Substitution(r"runs/\d{5}-faces-stylegan2-paper256", "runs/00000-faces-stylegan2-tiny", "sh",
                 "a run directory of the docs is the run the page's first `facegan train` made (cfg tiny)"),
    Substitution(r"--resolution \d+x\d+", "--resolution 16x12", "sh", "tiny archives"),
    Substitution(r"--resolution \d+\b", "--resolution 16", "sh", "tiny archives"),
    Substitution(r"resolution=256, transform", "resolution=16, transform", "python", "tiny archives"),
    Substitution(r'ImageDataset\("faces.zip", resolution=64', 'ImageDataset("faces.zip", resolution=16', "python",
                 "the same, for the loader"),
    Substitution(r"set_resolution\(128\)", "set_resolution(8)", "python", "the same"),
    Substitution(r"--samples \d+", "--samples 4", "sh", "noise-figure's std over 4 realisations, not 100"),
    Substitution(r"samples=100", "samples=4", "python", "as above"),
    Substitution(r"--frames \d+", "--frames 2", "sh", "two frames per transition"),
    Substitution(r"frames_per_transition=\d+", "frames_per_transition=2", "python", "as above"),
    Substitution(r"--num-steps \d+", "--num-steps 3", "sh", "three projection steps"),
    Substitution(r"^(facegan project (?!.*--num-steps).*)$", r"\1 --num-steps 3", "sh",
                 "projection's default is 1000 steps"),
    Substitution(r'make_loss\("auto"\)\)',
                 'make_loss("auto"), __import__("facegan.projection").projection.ProjectionOptions(num_steps=3))',
                 "python", "as above"),
    Substitution(r'device="cuda"', 'device="cpu"', "python", "the tests run on a CPU"),
    Substitution(r'stylegan_preset\("stylegan-ffhq"\)', 'stylegan_preset("stylegan-ffhq", 32)', "python",
                 "a 32x32 network, not 1024x1024"),
    Substitution(r"StyleGAN2Config\(resolution=1024\)", "StyleGAN2Config(resolution=32)", "python", "as above"),
    Substitution(r'stylegan2_preset\("paper256", 256\)', 'stylegan2_preset("paper256", 32)', "python", "as above"),
)


# Documented commands that are known to fail today, each with its issue: they must still fail (strict), so
# the entry is deleted in the same change that fixes them. Keyed by page and the command's start.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def substitute(line: str, scope: str, used: set[int] | None = None) -> str:
    for i, sub in enumerate(SUBSTITUTIONS):
        if sub.scope not in (scope, "both"):
            continue
        new = re.sub(sub.pattern, sub.replacement, line)
        if new != line and used is not None:
            used.add(i)
        line = new
    return line


# -- fixtures: the tiny files that stand for the docs' files ------------------------------------------------------

# Every name a page may use, and the fixture that stands for it (built once per session by build_fixtures).
FIXTURE_NAMES: dict[str, str] = {
    # archives: 64 real LFW faces, 16x16 grayscale
    "faces.zip": "lfw16.zip", "celeba128.zip": "lfw16.zip", "celeba-keras.zip": "lfw16.zip",
    "metfaces.zip": "lfw16.zip", "ffhq.zip": "lfw16.zip",
    "ffhq-real.zip": "lfw16.zip",
    # networks: a `tiny` StyleGAN2 for those archives (what `facegan train --cfg tiny` builds), untrained
    "ffhq.safetensors": "tiny-sg2.safetensors", "network.safetensors": "tiny-sg2.safetensors",
    "network-final.safetensors": "tiny-sg2.safetensors", "net.safetensors": "tiny-sg2.safetensors",
    "faces.safetensors": "tiny-sg2.safetensors", "other.safetensors": "tiny-sg2.safetensors",
    # official files in each format, written by the interop tests' fixture writers
    "stylegan2-ffhq-config-f.pkl": "sg2-tf.pkl", "karras2019stylegan-ffhq-1024x1024.pkl": "v1-tf.pkl",
    "ffhq.pkl": "sg2-ada.pkl", "network-snapshot-000400.pkl": "sg2-ada.pkl",
    "network-snapshot-025000.pkl": "sg2-ada.pkl", "net.pkl": "sg2-ada.pkl", "cifar10.pkl": "sg2-ada-cond.pkl",
    "stylegan3-t-ffhqu-256x256.pkl": "sg3-t.pkl",
    # a projection's result for ffhq.pkl (generation.md renders it before its projection section)
    "proj/projected_w.npz": "projected_w.npz",
    # photos and dataset sources
    "me.jpg": "me.jpg", "photo1.png": "photo1.png", "photo2.jpg": "me.jpg",
    "photos": "photos", "astronaut.png": "astronaut.png", "holiday.jpg": "holiday.jpg",
    "home/holiday-photos": "holiday-photos", "home/photos": "photos", "home/celeba": "celeba",
    "img_align_celeba": "celeba/img_align_celeba",
    "home/ffhq/images1024x1024": "ffhq-images", "home/lsun/bedroom_train_lmdb": "bedroom_train_lmdb",
    "home/lsun/car_lmdb": "car_lmdb", "home/cifar-10-python.tar.gz": "cifar-10-python.tar.gz",
}


def build_fixtures(root: Path) -> Path:
    """Write every fixture into `root` (about two seconds)."""
    import numpy as np
    from PIL import Image

    from facegan.data.sources import lfw_subset
    from facegan.networks import StyleGAN2Config, build_discriminator, build_generator, save_networks
    from facegan.training import resolve_options

    root.mkdir(parents=True, exist_ok=True)
    faces = lfw_subset()  # 100 uint8 25x25 grayscale faces
    big = [np.asarray(Image.fromarray(f).resize((64, 64), Image.Resampling.LANCZOS)) for f in faces[:64]]

    from training_helpers import lfw_archive
    lfw_archive(root / "lfw16.zip", resolution=16, count=64)

    photos = root / "photos"
    photos.mkdir()
    for i, f in enumerate(big[:12]):  # not square: the docs' --transform center-crop squares them
        Image.fromarray(f).resize((64, 80)).convert("RGB").save(photos / f"photo{i:02d}.jpg", quality=95)
    Image.fromarray(big[12]).convert("RGB").save(root / "me.jpg", quality=95)
    Image.fromarray(big[13]).convert("RGB").save(root / "photo1.png")
    from skimage.data import astronaut  # a photo dlib finds a face in, for the alignment examples
    astro = Image.fromarray(astronaut())
    astro.save(root / "astronaut.png")
    astro.save(root / "holiday.jpg", quality=95)
    (root / "holiday-photos").mkdir()
    astro.save(root / "holiday-photos" / "astronaut.jpg", quality=95)
    astro.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "holiday-photos" / "mirrored.jpg", quality=95)
    ffhq = root / "ffhq-images"
    ffhq.mkdir()
    for i, f in enumerate(big[:8]):
        Image.fromarray(f).convert("RGB").save(ffhq / f"{i:05d}.png")

    from test_data_sources import cifar_batches, make_celeba, make_lmdb, webp, write_tarball
    make_celeba(root / "celeba", n=4)
    make_lmdb(root / "bedroom_train_lmdb", {f"{k:040x}": webp(np.repeat(big[k][:48, :, None], 3, 2))
                                            for k in range(4)})
    make_lmdb(root / "car_lmdb", {f"{k:040x}": webp(np.repeat(big[k][:48, :, None], 3, 2)) for k in range(4)})
    import pickle
    batches, _, _ = cifar_batches(per_batch=2)
    write_tarball(root / "cifar-10-python.tar.gz", [(name, pickle.dumps(d)) for name, d in batches])

    # Networks: what `--cfg tiny` builds for lfw16.zip, so fine-tuning from it works.
    opts = resolve_options(str(root / "lfw16.zip"), arch="stylegan2", cfg="tiny")
    cfg = opts.network_config
    G = build_generator(cfg)
    save_networks(root / "tiny-sg2.safetensors", {"G": G, "D": build_discriminator(cfg), "G_ema": G}, cfg)

    np.savez(root / "projected_w.npz", w=np.random.RandomState(0).randn(1, 8, 16).astype(np.float32))

    # Official formats.
    from interop_fixtures import write_snapshot
    from test_interop import EVIL_SRC, sg2_init_kwargs, tiny_v1, v1_fixture
    from test_interop_stylegan2_tf import SPECS, write_fixture
    write_fixture(root / "sg2-tf.pkl", SPECS["config-f"], seed=0)
    v1_fixture(root / "v1-tf.pkl", tiny_v1())
    for name, c_dim in (("sg2-ada.pkl", 0), ("sg2-ada-cond.pkl", 10)):
        c = StyleGAN2Config(resolution=32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16,
                            c_dim=c_dim)
        nets = {"G": build_generator(c), "D": build_discriminator(c), "G_ema": build_generator(c)}
        write_snapshot(root / name, nets, sg2_init_kwargs(c), EVIL_SRC)
    from stylegan3_fixtures import tiny_config, write_sg3_snapshot
    write_sg3_snapshot(root / "sg3-t.pkl", tiny_config("stylegan3-t", 16), with_d=False)

    return root


def populate(workdir: Path, fixtures: Path, creates: set[str]) -> None:
    """Copy the fixtures into a page's scratch folder under the docs' names (not those the page creates)."""
    for name, source in FIXTURE_NAMES.items():
        if name in creates:
            continue
        src, dst = fixtures / source, workdir / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    (workdir / "home").mkdir(exist_ok=True)
    (workdir / "cache").mkdir(exist_ok=True)


CREATES = re.compile(r"""(?:--dest\s+|dest=["'])([\w./-]+)""")


def created_archives(text: str) -> set[str]:
    return set(CREATES.findall(text))


# -- markers -------------------------------------------------------------------------------------------------------

MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<body>.*?)\s*-->")
SKIP = re.compile(r'^skip\s+reason="(?P<reason>[^"]+)"$')
VISIBLE = re.compile(r"^\*Illustrative, not run by the tests: (?P<reason>.+)\*$")
LINE_MARK = re.compile(r"\s#\s*illustrative:\s*(?P<reason>.+)$")


def block_skip_reason(document: Document, start: int) -> str | None:
    """The reason of a `<!-- docs-test: skip reason="..." -->` marker right above the block at `start`
    (blank lines and the visible note may sit between); raises ValueError for a malformed or unmarked-
    in-the-page marker."""
    lines = document.text[:start].rstrip("\n").split("\n")
    window = [ln.strip() for ln in lines[-4:]]
    for i in range(len(window) - 1, -1, -1):
        m = MARKER.fullmatch(window[i])
        if not m:
            continue
        skip = SKIP.match(m.group("body"))
        if skip is None:
            raise ValueError(f"malformed marker {window[i]!r}: write <!-- docs-test: skip reason=\"why\" -->")
        between = [ln for ln in window[i + 1:] if ln]
        visible = [VISIBLE.match(ln) for ln in between]
        if not visible or not visible[0] or len(between) != 1:
            raise ValueError(f"{window[i]!r} needs the visible line *Illustrative, not run by the tests: "
                             f"{skip.group('reason')}* between it and the block")
        return skip.group("reason")
    return None


# -- shell commands -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    line: int             # 0-based line inside the block
    text: str             # as written, continuations joined, without the illustrative comment
    illustrative: str | None


def shell_commands(source: str, language: str) -> list[Command]:
    commands, pending, first = [], "", 0
    for i, raw in enumerate(source.split("\n")):
        line = raw.rstrip()
        if language == "console":
            if not pending:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
        if not pending:
            first = i
            if not line.strip() or line.lstrip().startswith("#"):
                continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        mark = LINE_MARK.search(text)
        reason = mark.group("reason").strip() if mark else None
        if mark:
            text = text[:mark.start()]
        try:  # comments dropped, so substitutions see the command alone
            text = shlex.join(shlex.split(text, comments=True))
        except ValueError:
            raise ValueError(f"line {i + 1} of a shell block does not parse: {text}") from None
        commands.append(Command(first, text, reason))
    return commands


class CommandFailed(AssertionError):
    pass


def run_command(text: str, workdir: Path, used: set[int] | None = None) -> str:
    """Run one documented command (after the substitutions) in `workdir`; returns its output."""
    text = substitute(text, "sh", used)
    argv = [os.path.expanduser(a) if a.startswith("~") else a for a in shlex.split(text, comments=True)]
    env = {}
    while argv and re.fullmatch(r"[A-Za-z_]\w*=\S*", argv[0]):
        key, _, value = argv.pop(0).partition("=")
        env[key] = value
    if not argv:
        return ""
    program = argv[0]
    if program == "facegan" and argv[1:2] == ["serve"]:
        return run_server(argv, workdir)
    if program == "facegan":
        return run_facegan(argv[1:], text)
    if program == "python":
        return run_python(argv[1:], env, workdir, text)
    if program == "cp" and len(argv) == 3:
        try:
            shutil.copy2(workdir / argv[1], workdir / argv[2])
        except OSError as exc:
            raise CommandFailed(f"`{text}`: {exc}") from None
        return ""
    raise CommandFailed(f"no runner for `{program}` in `{text}`: mark the block or the line illustrative "
                        f"(docs/contributing.md), or teach tests/docs_harness.py to run it")


def run_facegan(args: list[str], text: str) -> str:
    from facegan.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rc = main(args)
        except SystemExit as exc:
            rc = exc.code
    rc = 0 if rc is None else rc
    if rc != 0:
        raise CommandFailed(f"`{text}` exited with {rc}:\n{out.getvalue()[-3000:]}")
    return out.getvalue()


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def run_python(args: list[str], env: dict[str, str], workdir: Path, text: str) -> str:
    if args and not args[0].startswith("-") and not (workdir / args[0]).exists() and (ROOT / args[0]).exists():
        args = [str(ROOT / args[0]), *args[1:]]  # scripts/ and benchmarks/ are the repository's
    proc = subprocess.run([sys.executable, *args], cwd=workdir, env=_env(env), capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise CommandFailed(f"`{text}` exited with {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server(argv: list[str], workdir: Path, timeout: float = 90.0) -> str:
    """`facegan serve ...` as a real process on a free loopback port: it must answer /healthz, then stops."""
    port = free_port()
    cmd = [sys.executable, "-m", "facegan", *argv[1:], "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=workdir, env=_env({}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise CommandFailed(f"`{' '.join(argv)}` exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return r.read().decode()
            except OSError:
                time.sleep(0.2)
        raise CommandFailed(f"`{' '.join(argv)}` did not answer /healthz within {timeout:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- Sybil: parsing and evaluating the pages ---------------------------------------------------------------------

class Skipped(Exception):
    """An illustrative block (its reason is the message)."""


def evaluate_python(example: Example) -> None:
    reason = block_skip_reason(example.document, example.start)
    if reason:
        raise Skipped(reason)
    used = example.namespace.setdefault("__docs_used__", set())
    source = "\n".join(substitute(line, "python", used) for line in str(example.parsed).split("\n"))
    code = compile("\n" * (example.line + example.parsed.line_offset) + source, example.path, "exec",
                   dont_inherit=True)
    exec(code, example.namespace)


def evaluate_shell(example: Example) -> None:
    reason = block_skip_reason(example.document, example.start)
    if reason:
        raise Skipped(reason)
    used = example.namespace.setdefault("__docs_used__", set())
    workdir = Path(example.namespace["__workdir__"])
    language = example.region.lexemes.get("arguments") or "sh"
    ran = []
    page = relpath(example.path)
    for command in shell_commands(str(example.parsed), language):
        if command.illustrative:
            continue
        line = example.line + example.parsed.line_offset + command.line + 1
        known = next((why for (p, start), why in KNOWN_FAILURES.items()
                      if p == page and command.text.startswith(start)), None)
        try:
            run_command(command.text, workdir, used)
        except CommandFailed as exc:
            if known:
                continue
            raise CommandFailed(f"{example.path}:{line}: {exc}") from None
        if known:
            raise CommandFailed(f"{example.path}:{line}: `{command.text}` works now ({known} is fixed): delete its "
                                f"entry from KNOWN_FAILURES in tests/docs_harness.py")
        ran.append(command.text)
    if not ran:
        raise Skipped("every command of this block is marked illustrative")


def parsers() -> list:
    return [CodeBlockParser(language="python", evaluator=evaluate_python),
            *[CodeBlockParser(language=lang, evaluator=evaluate_shell) for lang in SHELL_LANGS]]


def parse(path: Path) -> Document:
    return Document.parse(str(path), *parsers())


def examples(path: Path) -> list[Example]:
    return list(parse(path))


def relpath(path: Path | str) -> str:
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()
