"""Parameter value types: how the text of a ``-P name=value`` becomes a typed value.

A trainer's ``Params`` and the business metric's ``Settings`` declare each field with
``hyperparameter(default, parse, help)``; the command lines (``jobs.cli``) build their flags from
those declarations, and a run's logged parameters are read back with the same ``parse``. Parsing
fails with ``ParameterValueError`` (a ``ValueError``) whose message says what was expected. No
argparse here: this module ships inside every logged model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any


class ParameterValueError(ValueError):
    """A parameter's text is not a value of its type; the message names what was expected."""


def _number(kind: type, text: str):
    if not text.isascii():  # int() and float() take other scripts' digits, e.g. '３'
        raise ParameterValueError(f"expected {kind.__name__} in ASCII digits, got {text!r}")
    try:
        value = kind(text)
    except ValueError:
        raise ParameterValueError(f"expected {kind.__name__}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise ParameterValueError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _number(int, text)
    if value < 1:
        raise ParameterValueError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _number(int, text)
    if value < 0:
        raise ParameterValueError(f"expected an integer >= 0, got {text!r}")
    return value


def seed(text: str) -> int:
    """A random seed: an integer in [0, 2**32 - 1], the range NumPy and scikit-learn accept."""
    value = _number(int, text)
    if not 0 <= value < 2**32:
        raise ParameterValueError(f"expected an integer from 0 to 4294967295, got {text!r}")
    return value


def optional_positive_int(text: str) -> int | None:
    """``None`` (no limit) or an integer >= 1."""
    return None if text == "None" else positive_int(text)


def positive_int_list(text: str) -> tuple[int, ...]:
    """Comma-separated integers >= 1, e.g. ``128,64``."""
    parts = [p.strip() for p in text.split(",")]
    try:
        return tuple(positive_int(p) for p in parts)
    except ParameterValueError:
        raise ParameterValueError(
            f"expected comma-separated integers >= 1 (e.g. 128,64), got {text!r}"
        ) from None


def float_in(
    low: float, high: float, *, low_open: bool = True, high_open: bool = True
) -> Callable[[str], float]:
    """A converter accepting floats inside an interval (open ends by default)."""

    def convert(text: str) -> float:
        value = _number(float, text)
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (above and below):
            interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            raise ParameterValueError(f"expected a number in {interval}, got {text!r}")
        return value

    return convert


non_negative_float = float_in(0.0, float("inf"), low_open=False)


def optional_float(text: str) -> float | None:
    """``None`` (no threshold) or a finite number."""
    return None if text == "None" else float_in(float("-inf"), float("inf"))(text)


def boolean(text: str) -> bool:
    """``true`` or ``false`` (any case)."""
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ParameterValueError(f"expected true or false, got {text!r}")
    return lowered == "true"


def hyperparameter(
    default: Any, parse: Callable[[str], Any], help: str = "", *, choices: Sequence[str] = ()
) -> Any:
    """A field of a trainer's ``Params``: its default, how its flag's text is parsed, its help.

    The dataclass is the single declaration: ``jobs.cli.add_hyperparameters`` builds the flags
    from it and tests/entrypoints/test_mlproject.py checks MLproject's defaults parse to the same
    values.
    """
    metadata = {"parse": parse, "help": help, "choices": tuple(choices)}
    return dataclasses.field(default=default, metadata=metadata)


def as_parameter_text(value: Any) -> str:
    """A value as MLproject and ``-P`` write it (``(128, 64)`` -> ``128,64``)."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)
