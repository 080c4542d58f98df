"""Catalog references in scenario fields: a catalog name, an inline mapping of the catalog's fields, or
`{base: <catalog name>, ...}` with the fields to change; and the pattern names must follow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from simulator import catalog
from simulator.models.hardware import Accelerator
from simulator.models.workload.transformer import TransformerModel

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"


def _catalog_reference(kind: str, lookup: Callable[[str], Any]) -> Callable[[Any], Any]:
    """Turn a catalog name, or a mapping with `base: name`, into fields for the spec model."""

    def resolve(value: Any) -> Any:
        try:
            if isinstance(value, str):
                return lookup(value)
            if isinstance(value, dict) and value.get("base") is not None:
                base = lookup(str(value["base"]))
                fields = catalog.as_fields(base) | {"name": f"{base.name}+custom", "status": "user"}
                return fields | value
        except catalog.UnknownEntry as err:
            raise PydanticCustomError("unknown_catalog_entry", str(err)) from None
        if isinstance(value, dict) and "name" not in value:
            return {"name": f"inline-{kind}"} | value
        return value

    return resolve


AcceleratorRef = Annotated[
    Accelerator,
    BeforeValidator(_catalog_reference("accelerator", catalog.accelerator), json_schema_input_type=str | Accelerator),
]
ModelRef = Annotated[
    TransformerModel,
    BeforeValidator(_catalog_reference("model", catalog.model), json_schema_input_type=str | TransformerModel),
]
