"""The base of every wire model: frozen, slotted, keyword-only attrs classes.

Servers add fields over time. A field the class does not know is not dropped and not an
error: it lands in ``extra``, a read-only mapping, and is sent back out by ``to_dict()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

__all__ = ["EMPTY_EXTRA", "Model"]

_M = TypeVar("_M", bound="Model")

#: The shared, immutable ``extra`` of every object that has no unknown fields.
EMPTY_EXTRA: Mapping[str, Any] = MappingProxyType({})


@attrs.frozen(kw_only=True)
class Model:
    """Base class of all agentchat models.

    ``extra`` holds the fields the server sent that this version of agentchat does not
    model, exactly as decoded from JSON.
    """

    extra: Mapping[str, Any] = attrs.field(default=EMPTY_EXTRA, repr=False, eq=False)

    @classmethod
    def from_dict(cls: type[_M], data: Mapping[str, Any]) -> _M:
        """Build an instance from decoded JSON, keeping unknown fields in ``extra``."""
        from .._convert import converter

        return converter.structure(data, cls)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict of this object: ``None`` fields left out, ``extra`` merged in."""
        from .._convert import converter

        result: dict[str, Any] = converter.unstructure(self)
        return result
