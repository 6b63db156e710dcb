"""Option types and helpers shared by the command modules."""

from __future__ import annotations

import click

from facegan.errors import ConfigError
from facegan.utils.parsing import parse_float_list, parse_int_list

__all__ = ["FloatList", "IntList", "parse_float_list", "parse_int_list"]


class IntList(click.ParamType):
    """A click type for '0-3,7'."""

    name = "LIST"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            return parse_int_list(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


class FloatList(click.ParamType):
    """A click type for '-1,-0.5,0.7'."""

    name = "FLOATS"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            return parse_float_list(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
