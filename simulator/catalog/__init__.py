"""Built-in accelerators and models: YAML data files with sources, validated by the same models that
validate inline scenario entries, so a catalog entry and an inline mapping mean exactly the same thing."""

from __future__ import annotations

import difflib
import functools
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from simulator.models.hardware import Accelerator
from simulator.models.workload.transformer import TransformerModel

CATALOG_DIR = Path(__file__).parent
SpecT = TypeVar("SpecT", bound=BaseModel)


class UnknownEntry(LookupError):
    """A catalog name that does not exist; carries the closest names for the error message."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name = kind, name
        self.suggestions = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f"; did you mean {' or '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (`clustersim catalog {kind}s` lists them)")

    def __str__(self) -> str:
        return str(self.args[0])


def _load(filename: str, section: str, spec: type[SpecT]) -> dict[str, SpecT]:
    # libyaml's safe loader where PyYAML was built with it: the same documents, several times faster
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load((CATALOG_DIR / filename).read_text(encoding="utf-8"), Loader=loader)
    citations: dict[str, str] = data.get("sources", {})
    entries: dict[str, SpecT] = {}
    for raw in data[section]:
        entry = dict(raw)
        keys = list(entry.get("sources", []))
        prices = [dict(p) for p in entry.get("prices", [])]
        missing = [k for k in [*keys, *(p.get("source") for p in prices)] if k not in citations]
        if missing:
            raise ValueError(f"{filename}: {entry.get('name')}: unknown source keys {missing}")
        entry["sources"] = [f"{k}: {citations[k]}" for k in keys]
        if prices:
            entry["prices"] = [p | {"source": f"{p['source']}: {citations[p['source']]}"} for p in prices]
        item = spec.model_validate(entry)
        name = entry["name"]
        if name in entries:
            raise ValueError(f"{filename}: duplicate entry {name!r}")
        entries[name] = item
    return entries


@functools.cache
def accelerators() -> dict[str, Accelerator]:
    """Every built-in accelerator by name."""
    return _load("accelerators.yaml", "accelerators", Accelerator)


@functools.cache
def models() -> dict[str, TransformerModel]:
    """Every built-in model by name."""
    return _load("models.yaml", "models", TransformerModel)


def accelerator(name: str) -> Accelerator:
    """The built-in accelerator `name`, or UnknownEntry naming the closest ones."""
    table = accelerators()
    if name not in table:
        raise UnknownEntry("accelerator", name, list(table))
    return table[name]


def model(name: str) -> TransformerModel:
    """The built-in model `name`, or UnknownEntry naming the closest ones."""
    table = models()
    if name not in table:
        raise UnknownEntry("model", name, list(table))
    return table[name]


def as_fields(entry: BaseModel) -> dict[str, Any]:
    """An entry as the mapping a scenario would write (aliases as keys, SI numbers as values)."""
    return entry.model_dump(by_alias=True, mode="json")
