"""The answers of a game database as CSV or JSON (`facegan db export`), on either back-end.

One record per answer, with its round: who (the pseudonymous player id), when, which side was real,
the choice and whether it was right, time to answer, the tell marked, the real photo's name and the
fake's seed, psi, class and network. Written atomically (a temporary file, then renamed).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from facegan.utils.atomic import atomic_write_text
from facegan.web.storage import Storage

COLUMNS = ("round_id", "player", "issued_at", "answered_at", "real_position", "choice", "correct", "time_ms", "tell",
           "real_name", "fake_seed", "fake_psi", "fake_class", "network")
FORMATS = ("csv", "json")


def answers(storage: Storage) -> list[dict]:
    rows = storage.read().execute(
        "SELECT a.round_id, a.player, r.issued_at, a.answered_at, r.real_position, a.choice, a.correct, a.time_ms, "
        "a.tell, r.real_name, r.fake_seed, r.fake_psi, r.fake_class, r.network "
        "FROM answers a JOIN rounds r ON r.id = a.round_id ORDER BY a.round_id").fetchall()
    records = []
    for row in rows:
        record = dict(zip(COLUMNS, tuple(row)))
        record["correct"] = bool(record["correct"])
        records.append(record)
    return records


def render(records: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(records, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def export(storage: Storage, fmt: str, dest: str | Path | None = None) -> str:
    """The answers in `fmt` (csv or json), written to `dest` atomically when given; returns the text."""
    text = render(answers(storage), fmt)
    if dest is not None:
        atomic_write_text(dest, text)
    return text
