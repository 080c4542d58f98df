"""The base of every output contract (the run report, the experiments' and the tools' outputs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Output(BaseModel):
    """Base of every output contract: a field it does not declare is an error."""

    model_config = ConfigDict(extra="forbid")
