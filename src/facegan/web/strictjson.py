"""Strict JSON for request bodies, and error answers that are safe whatever the request held.

Python's json module accepts `NaN`, `Infinity` and `1e400` (which becomes infinity); JSON does not.
`StrictJSONRoute` parses bodies with `strict_loads`, so such a body is a 422 like any other invalid
body, and `jsonable` turns what an error echoes back (the invalid input) into values that JSON can
carry, so an error handler never fails on the input it reports.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

MAX_NUMBER_DIGITS = 100  # longer number literals are refused (they are never a valid value here)
MAX_ECHO_CHARS = 200     # an error repeats at most this much of the input it refuses


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError(f"number with {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of the range of a number")
    return value


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError(f"number with {len(text)} digits")
    return int(text)


def strict_loads(data: bytes | str) -> Any:
    """json.loads that refuses NaN, Infinity, numbers that overflow a float and invalid UTF-8."""
    try:
        return json.loads(data, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # ours, UnicodeDecodeError, too deep
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        raise json.JSONDecodeError(str(exc) or type(exc).__name__, text, 0) from None


class StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed by `strict_loads` (invalid: 422, as FastAPI answers bad JSON)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict_handler(request: Request):
            return await handler(StrictRequest(request.scope, request.receive))
        return strict_handler


def jsonable(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON values: non-finite floats, bytes and other objects become short strings."""
    if depth > 20:
        return "..."
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # a huge int cannot even be printed (Python's int-to-str limit)
        return value if abs(value) < 10**MAX_NUMBER_DIGITS else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + "..."
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, depth + 1) for v in list(value)[:50]]
    return jsonable(repr(value) if isinstance(value, bytes) else str(value), depth + 1)
