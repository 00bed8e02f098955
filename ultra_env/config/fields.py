"""The field types the configuration's sections share."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*\Z")


def _variable(value: str | None) -> str | None:
    if value is not None and not _VARIABLE.match(value):
        raise ValueError("use a variable name: letters, digits and _, not starting with a digit")
    return value


def _image(value: str) -> str:
    if not _IMAGE.match(value) or ".." in value:
        raise ValueError("an image reference looks like name:tag or registry/name:tag")
    return value


def matching(pattern: str, refusal: str) -> Callable[[str | None], str | None]:
    """A validator: the value matches ``pattern`` whole, or ``refusal`` says what would."""
    compiled = re.compile(pattern)

    def check(value: str | None) -> str | None:
        if value is not None and not compiled.fullmatch(value):
            raise ValueError(refusal)
        return value

    return check


VariableName = Annotated[str, AfterValidator(_variable)]
Image = Annotated[str, AfterValidator(_image)]
Port = Annotated[int, Field(ge=1, le=65535)]
