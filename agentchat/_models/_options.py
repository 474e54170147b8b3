"""Small request objects: streaming options and knowledge-base filters."""

from __future__ import annotations

import attrs

from ._base import Model

__all__ = ["KBFilter", "StreamOptions"]


@attrs.frozen(kw_only=True)
class StreamOptions(Model):
    """Options for a streamed response. ``include_usage`` adds a last chunk with the usage."""

    include_usage: bool | None = None


@attrs.frozen(kw_only=True)
class KBFilter(Model):
    """Restrict retrieval to one knowledge base (``index``: its UUID), optionally to a path."""

    index: str
    path: str | None = None
