"""One quantity parser for every input: "200 Gbps", "80 GiB", "30 min", "15.6T", "989 TFLOP/s".

Inputs are plain numbers in the field's documented SI unit or strings with a unit; the result is always SI
(bytes, bytes/s, seconds, FLOP/s, watts, a plain count). It sits below every other module (catalog files,
scenario schema and analytical models all use it) and imports nothing from clustersim.
"""

from __future__ import annotations

import math
import numbers
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema


class Dimension(StrEnum):
    """What a quantity measures; each has one SI unit inside the simulator."""

    COUNT = "count"
    BYTES = "bytes"
    BANDWIDTH = "bytes/s"
    DURATION = "s"
    FLOP_RATE = "FLOP/s"
    POWER = "W"


_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}

# Count suffixes: "26B" means 26e9 tokens (billions), the way the field writes model and data sizes.
_COUNT_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15,
                 **_BINARY}

_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "week": 604800.0, "weeks": 604800.0,
    "y": 365.25 * 86400.0, "yr": 365.25 * 86400.0, "year": 365.25 * 86400.0, "years": 365.25 * 86400.0,
}


def _prefixed(base: dict[str, float], prefixes: dict[str, float]) -> dict[str, float]:
    return {p + unit: pf * scale for unit, scale in base.items() for p, pf in prefixes.items()}


_ALL_PREFIXES = {**_DECIMAL, **_BINARY}
_BYTE_UNITS = {**_prefixed({"B": 1.0}, _ALL_PREFIXES), **_prefixed({"b": 0.125, "bit": 0.125}, _DECIMAL)}
_BANDWIDTH_UNITS = {
    **_prefixed({"B/s": 1.0, "Bps": 1.0}, _ALL_PREFIXES),
    **_prefixed({"bps": 0.125, "b/s": 0.125, "bit/s": 0.125}, _DECIMAL),
}
_FLOP_RATE_UNITS = _prefixed({"FLOP/s": 1.0, "FLOPS": 1.0, "flops": 1.0, "FLOP/S": 1.0}, _DECIMAL)
_POWER_UNITS = _prefixed({"W": 1.0}, _DECIMAL)

_UNITS: dict[Dimension, dict[str, float]] = {
    Dimension.COUNT: _COUNT_SUFFIX,
    Dimension.BYTES: _BYTE_UNITS,
    Dimension.BANDWIDTH: _BANDWIDTH_UNITS,
    Dimension.DURATION: _DURATION_UNITS,
    Dimension.FLOP_RATE: _FLOP_RATE_UNITS,
    Dimension.POWER: _POWER_UNITS,
}

_EXAMPLES = {
    Dimension.COUNT: "26B, 1M, 15.6T, 4096, 1Mi",
    Dimension.BYTES: "80 GiB, 40 GB, 512 MiB",
    Dimension.BANDWIDTH: "200 Gbps, 50 GB/s, 3.35 TB/s",
    Dimension.DURATION: "90 s, 30 min, 4 h, 54 d",
    Dimension.FLOP_RATE: "989 TFLOP/s, 1.2 PFLOP/s",
    Dimension.POWER: "700 W, 10.2 kW",
}

# Digits may be grouped by "_" anywhere or by "," in thousands ("1,000,000"); "1,5" is not a number.
_NUMBER = re.compile(
    r"^\s*([-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d(?:_?\d)*\.?(?:\d(?:_?\d)*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"\s*(.*?)\s*$"
)


class QuantityError(ValueError):
    """A quantity string that does not parse, with what is allowed."""


# The largest magnitude any quantity of a dimension may have: far beyond anything a cluster scenario means, so
# that a typo such as 1e300 is refused instead of printing 300-digit figures (fields add tighter bounds).
LIMITS: dict[Dimension, tuple[float, str]] = {
    Dimension.COUNT: (1e35, "1e35 (FLOPs: about a billion times the largest training runs)"),
    Dimension.BYTES: (1e21, "1 ZB"),
    Dimension.BANDWIDTH: (1e18, "1 EB/s (a Cerebras wafer's on-chip memory reaches 21 PB/s)"),
    Dimension.DURATION: (1e11, "about 3,000 years (1e11 s)"),
    Dimension.FLOP_RATE: (1e21, "1e21 FLOP/s (1 ZFLOP/s)"),
    Dimension.POWER: (1e11, "100 GW"),
}


def parse_quantity(value: Any, dimension: Dimension) -> float:
    """Return `value` in SI units of `dimension`; numbers are taken as already in SI."""
    if isinstance(value, bool):
        raise QuantityError(f"expected a {dimension.value} quantity, got a boolean")
    if isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:
            raise QuantityError(f"a {dimension.value} quantity of {len(str(value))} digits is too large") from None
    elif isinstance(value, str):
        number = _parse_string(value, dimension)
    else:
        raise QuantityError(
            f"expected a number or a string with a unit ({_EXAMPLES[dimension]}), got {type(value).__name__}"
        )
    if not math.isfinite(number):
        raise QuantityError(f"expected a finite {dimension.value} quantity, got {value!r}")
    limit, said = LIMITS[dimension]
    if abs(number) > limit:
        raise QuantityError(f"a {dimension.value} quantity may be at most {said}")
    return number


def _parse_string(text: str, dimension: Dimension) -> float:
    match = _NUMBER.match(text)
    if not match:
        raise QuantityError(f"cannot read {text!r} as a quantity; write e.g. {_EXAMPLES[dimension]}")
    number_text, unit = match.groups()
    number = float(number_text.replace("_", "").replace(",", ""))
    units = _UNITS[dimension]
    if unit in units:
        return number * units[unit]
    hint = _EXAMPLES[dimension]
    raise QuantityError(f"unknown unit {unit!r} for a {dimension.value} quantity; write e.g. {hint}")


def _scaled(value: float, steps: list[tuple[float, str]], separator: str = "", unit: str = "") -> str:
    """`value` in the largest step it reaches once rounded to 3 figures (999,999 is '1M', not '1e+03k')."""
    rounded = float(f"{value:.3g}")
    for scale, prefix in steps:
        if abs(rounded) >= scale:
            return f"{value / scale:.3g}{separator}{prefix}{unit}"
    return f"{value:.3g}{separator}{unit}"


def format_si(value: float, unit: str, binary: bool = False) -> str:
    """Human text for an SI value: format_si(8.6e10, 'B', binary=True) -> '80.1 GiB'."""
    if binary:
        steps = [(2.0**50, "Pi"), (2.0**40, "Ti"), (2.0**30, "Gi"), (2.0**20, "Mi"), (2.0**10, "Ki")]
    else:
        steps = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
    return _scaled(value, steps, " ", unit)


def format_count(value: float) -> str:
    """Human text for a count the way the field writes them: format_count(2.6e10) -> '26B'."""
    return _scaled(value, [(1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")])


def _annotation(dimension: Dimension) -> tuple[BeforeValidator, WithJsonSchema]:
    """Pydantic metadata for a quantity field: the parser, and a JSON Schema that admits unit strings."""

    def validate(value: Any) -> float:
        return parse_quantity(value, dimension)

    schema = {
        "anyOf": [{"type": "number"}, {"type": "string"}],
        "description": f"{dimension.value}; a number in {dimension.value} or a string such as "
        f"{_EXAMPLES[dimension]}",
    }
    return BeforeValidator(validate), WithJsonSchema(schema)


# Pydantic field types: each accepts a number in SI or a string with a unit, and stores SI floats.
Count = Annotated[float, *_annotation(Dimension.COUNT)]
Bytes = Annotated[float, *_annotation(Dimension.BYTES)]
Bandwidth = Annotated[float, *_annotation(Dimension.BANDWIDTH)]
Duration = Annotated[float, *_annotation(Dimension.DURATION)]
FlopRate = Annotated[float, *_annotation(Dimension.FLOP_RATE)]
Power = Annotated[float, *_annotation(Dimension.POWER)]

PositiveCount = Annotated[Count, Field(gt=0)]
PositiveBytes = Annotated[Bytes, Field(gt=0)]
PositiveBandwidth = Annotated[Bandwidth, Field(gt=0)]
NonNegativeDuration = Annotated[Duration, Field(ge=0)]
PositiveFlopRate = Annotated[FlopRate, Field(gt=0)]
PositivePower = Annotated[Power, Field(gt=0)]

SECONDS_PER_HOUR = 3600.0
JOULES_PER_KWH = 3.6e6
