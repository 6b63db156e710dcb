"""Docs that run: every Python block and every shell command in README.md and docs/*.md runs here.

A block that stops working fails a test named after its page and line, e.g.
`test_documented_example_runs[docs/api.md:20]`. How blocks run, the fixtures that stand for the
docs' files, the one substitution table that scales sizes down, and the illustrative marker are in
tests/docs_harness.py and, for authors, docs/contributing.md.

Why Sybil (https://sybil.readthedocs.io) and not pytest-markdown-docs: Sybil lexes Markdown fences
robustly (in lists, quotes, any fence length), gives every page one namespace in which its blocks
run in order (our pages build `G` in one block and use it in the next, which pytest-markdown-docs
only allows by tagging each later fence `continuation`), lets a project plug in its own evaluators
(our shell commands, our substitutions, our marker) without changing the fence info strings that
renderers show, reads set-up hidden in HTML comments (`<!-- invisible-code-block: python -->`), and
points tracebacks at the Markdown line. It is pure Python, has no dependencies, and is maintained
(releases every few months since 2011).

Cost: measured in docs/benchmarks.md ("The docs tests"). The blocks that train, serve or project are
marked `slow` (`make test-fast` leaves them out); the fixtures are built once per session.
"""

from __future__ import annotations

import re

import pytest

from docs_harness import (
    ROOT,
    SUBSTITUTIONS,
    Skipped,
    block_skip_reason,
    build_fixtures,
    created_archives,
    doc_files,
    examples,
    parse,
    populate,
    relpath,
    shell_commands,
    substitute,
)

PAGES = doc_files()
BLOCKS = [(page, i, ex) for page in PAGES for i, ex in enumerate(examples(page))]
# Blocks that train, serve or project take more than a few seconds: `slow`, like the suite's other long tests.
SLOW = re.compile(r"\bfacegan (?:train|serve|project)\b|\b(?:train|project)\(")


def is_slow(example) -> bool:
    return bool(SLOW.search(str(example.parsed)))


@pytest.fixture(scope="session")
def docs_fixtures(tmp_path_factory):
    return build_fixtures(tmp_path_factory.mktemp("docs-fixtures"))


class PageRun:
    """One page's examples, run in order in one namespace and one scratch folder."""

    def __init__(self, page, fixtures, workdir):
        self.document = parse(page)
        self.examples = list(self.document)
        self.workdir = workdir
        self.outcomes: dict[int, BaseException | None] = {}
        populate(workdir, fixtures, created_archives(self.document.text))
        self.document.namespace["__workdir__"] = str(workdir)

    def run(self, index: int) -> None:
        # A block may use what the blocks above it made, also under -k; a quick block never waits for a
        # slow one (under -m "not slow" it must not need it: make it a fixture instead).
        quick = not is_slow(self.examples[index])
        for earlier in range(index):
            if earlier not in self.outcomes and not (quick and is_slow(self.examples[earlier])):
                self._evaluate(earlier)
        self._evaluate(index)
        outcome = self.outcomes[index]
        if isinstance(outcome, Skipped):
            pytest.skip(f"illustrative: {outcome}")
        if outcome is not None:
            failed_above = [i for i in range(index) if self.outcomes.get(i) is not None
                            and not isinstance(self.outcomes[i], Skipped)]
            note = f" (blocks above it failed: lines {[self.examples[i].line for i in failed_above]})" \
                if failed_above else ""
            raise AssertionError(f"{relpath(self.document.path)}:{self.examples[index].line}{note}") from outcome

    def _evaluate(self, index: int) -> None:
        try:
            self.examples[index].evaluate()
            self.outcomes[index] = None
        except Exception as exc:  # recorded, raised by run() for its own block
            self.outcomes[index] = exc


_runs: dict[str, PageRun] = {}


@pytest.fixture
def in_scratch(monkeypatch):
    def enter(run: PageRun):
        monkeypatch.chdir(run.workdir)
        monkeypatch.setenv("HOME", str(run.workdir / "home"))
        monkeypatch.setenv("FACEGAN_CACHE", str(run.workdir / "cache"))
    return enter


@pytest.mark.parametrize(("page", "index"), [
    pytest.param(p, i, id=f"{relpath(p)}:{ex.line}", marks=[pytest.mark.slow] if is_slow(ex) else [])
    for p, i, ex in BLOCKS])
def test_documented_example_runs(page, index, docs_fixtures, tmp_path_factory, in_scratch):
    key = relpath(page)
    if key not in _runs:
        _runs[key] = PageRun(page, docs_fixtures, tmp_path_factory.mktemp(re.sub(r"\W", "-", key)))
    in_scratch(_runs[key])
    _runs[key].run(index)


# -- the harness's own rules --------------------------------------------------------------------------------------

FENCED = re.compile(r"^[ \t]*(?P<fence>```+|~~~+)(?P<lang>[^\n`]*)\n(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
                    re.MULTILINE | re.DOTALL)


def fenced_blocks(text: str):
    """(line, language, body) of every fenced block, in order."""
    for m in FENCED.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group("lang").strip(), m.group("body")


COMMAND = re.compile(r"^(?:\$ )?(?:facegan|python|PYTHONPATH=\S* python|make|torchrun|curl)\b")


@pytest.mark.parametrize("page", PAGES, ids=[relpath(p) for p in PAGES])
def test_every_shell_command_sits_in_a_block_the_harness_reads(page):
    """Commands in unlabelled or indented code blocks would escape the harness: label them `sh`. (A block
    labelled `text` shows text on purpose; an indented line inside an unlabelled block is a diagram.)"""
    text = page.read_text()
    stray = []
    fenced = set()
    for line, lang, body in fenced_blocks(text):
        fenced.update(range(line, line + body.count("\n") + 2))
        if not lang and any(COMMAND.match(ln) for ln in body.split("\n")):
            stray.append(f"line {line}: a ```{lang} block holds a command")
    previous_blank = True
    for n, ln in enumerate(text.split("\n"), 1):
        if n not in fenced and ln.startswith("    ") and previous_blank and COMMAND.match(ln[4:]):
            stray.append(f"line {n}: an indented code block holds a command")
        previous_blank = not ln.strip() or (previous_blank and ln.startswith("    "))
    assert not stray, f"{relpath(page)}: " + "; ".join(stray)


@pytest.mark.parametrize("page", PAGES, ids=[relpath(p) for p in PAGES])
def test_illustrative_markers_are_well_formed_and_shown_on_the_page(page):
    text = page.read_text()
    document = parse(page)
    starts = [ex.start for ex in document]
    marked = [s for s in starts if block_skip_reason(document, s)]  # raises on a malformed marker
    markers = re.findall(r"<!--\s*docs-test:", text)
    notes = re.findall(r"^\*Illustrative, not run by the tests: ", text, re.MULTILINE)
    assert len(markers) == len(marked) == len(notes), (
        f"{relpath(page)}: {len(markers)} docs-test markers, {len(marked)} of them right above a block, "
        f"{len(notes)} visible notes: each marker sits right above a block, with its note")


def runnable_lines(page):
    """(scope, line) of every line the harness would run on a page."""
    document = parse(page)
    for ex in document:
        if block_skip_reason(document, ex.start):
            continue
        language = ex.region.lexemes.get("arguments")
        if language == "python":
            yield from (("python", ln) for ln in str(ex.parsed).split("\n"))
        else:
            yield from (("sh", c.text) for c in shell_commands(str(ex.parsed), language) if not c.illustrative)


def test_every_substitution_is_used():
    """A row of the table that no longer matches anything is stale: delete it."""
    used: set[int] = set()
    for page in PAGES:
        for scope, line in runnable_lines(page):
            substitute(line, scope, used)
    stale = [SUBSTITUTIONS[i].pattern for i in range(len(SUBSTITUTIONS)) if i not in used]
    assert not stale, f"substitutions that match no documented line: {stale}"


def test_the_substitution_table_is_documented():
    page = (ROOT / "docs" / "contributing.md").read_text()
    missing = [s.pattern for s in SUBSTITUTIONS if f"`{s.pattern}`" not in page.replace("\\|", "|")]
    assert not missing, f"docs/contributing.md does not list these substitutions: {missing}"


# -- the harness itself: a block that stops working does fail ------------------------------------------------------

def test_shell_blocks_split_into_commands_with_continuations_prompts_and_line_marks():
    sh = ("facegan generate --network a.pkl \\\n    --seeds 0-3   # four faces\n\n"
          "# a comment\nmake demo  # illustrative: slow\n")
    assert [(c.line, c.text, c.illustrative) for c in shell_commands(sh, "sh")] == [
        (0, "facegan generate --network a.pkl --seeds 0-3", None), (4, "make demo", "slow")]
    console = "$ facegan dataset info faces.zip\nfaces.zip: 64 images\n"
    assert [c.text for c in shell_commands(console, "console")] == ["facegan dataset info faces.zip"]


def test_a_broken_example_fails_and_a_marked_one_is_skipped(tmp_path, monkeypatch):
    from docs_harness import CommandFailed

    page = tmp_path / "page.md"
    page.write_text(
        "```python\nx = 1\n```\n\n```python\nassert x == 2\n```\n\n"
        "```sh\nfacegan dataset info missing.zip\n```\n\n```sh\nmake demo\n```\n\n"
        '<!-- docs-test: skip reason="needs a GPU" -->\n*Illustrative, not run by the tests: needs a GPU*\n\n'
        "```sh\ntorchrun -m facegan train\n```\n")
    monkeypatch.chdir(tmp_path)
    first, wrong, missing, unrunnable, marked = parse(page)
    first.namespace["__workdir__"] = str(tmp_path)
    first.evaluate()
    with pytest.raises(AssertionError):
        wrong.evaluate()
    with pytest.raises(CommandFailed, match="exited with"):
        missing.evaluate()
    with pytest.raises(CommandFailed, match="no runner for `make`"):
        unrunnable.evaluate()
    with pytest.raises(Skipped, match="needs a GPU"):
        marked.evaluate()


def test_a_marker_without_its_visible_note_is_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text('<!-- docs-test: skip reason="needs a GPU" -->\n\n```sh\ntorchrun x\n```\n')
    document = parse(page)
    with pytest.raises(ValueError, match="visible line"):
        block_skip_reason(document, next(iter(document)).start)
