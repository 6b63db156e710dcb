"""Parsing the list syntax of the official scripts: seeds '0-3,7', psi values '-1,-0.5,0.7'."""

from __future__ import annotations

from facegan.errors import ConfigError


def parse_int_list(text: str, limit: int | None = None) -> list[int]:
    """Parse '0-3,7' or '85,100,75' into a list of ints (ranges inclusive, as the official scripts).

    With `limit`, a list of more than `limit` numbers is refused before it is built."""
    values: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if sep and lo.strip():  # 'a-b' (a leading '-' is a negative number, not a range)
            try:
                a, b = int(lo), int(hi)
            except ValueError:
                raise ConfigError(f"not a range of integers: {part!r} (write it as 0-9)") from None
            if b < a:
                raise ConfigError(f"empty range {part!r}: the end is before the start")
            if limit is not None and len(values) + (b - a + 1) > limit:
                raise ConfigError(f"{text!r} names {len(values) + b - a + 1:,} numbers; the limit is {limit:,} "
                                  "in one command (split the range over several runs)")
            values.extend(range(a, b + 1))
        else:
            try:
                values.append(int(part))
            except ValueError:
                raise ConfigError(f"not an integer: {part!r}") from None
            if limit is not None and len(values) > limit:
                raise ConfigError(f"{text!r} names more than {limit:,} numbers, the limit in one command")
    if not values:
        raise ConfigError(f"no numbers in {text!r}")
    return values


def parse_float_list(text: str) -> list[float]:
    """Parse '-1,-0.5,0,0.5,1' into floats."""
    try:
        values = [float(p) for p in str(text).split(",") if p.strip()]
    except ValueError:
        raise ConfigError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values:
        raise ConfigError(f"no numbers in {text!r}")
    return values
