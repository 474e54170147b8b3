"""The base of every wire model: frozen, slotted, keyword-only attrs classes.

Servers add fields over time. A field the class does not know is not dropped and not an
error: it lands in ``extra``, a read-only mapping, and is sent back out by ``to_dict()``.

Every model is also a read-only :class:`~collections.abc.Mapping` over its wire form, so code
written for pydo (whose results are dicts) reads it unchanged: ``completion["choices"][0]
["message"]["content"]``, ``completion.get("usage")``, ``"usage" in completion``, ``len()``
and iteration. The keys (iteration, ``len()``, ``in``, ``keys()``, ``get()``'s default) are
those ``to_dict()`` writes: ``None`` fields left out, unknown fields included. Indexing a
field the class knows gives its value as the attribute does, ``None`` included (pydo's dicts
hold the ``null`` a server sent, such as a tool call's ``content``). Nested models come back as
models, lists as tuples. Nothing is built when an object is made: the view is computed from
the attributes on each access.

Models copy and pickle (``copy.copy``, ``copy.deepcopy``, every pickle protocol): the shared
empty ``extra`` is a ``MappingProxyType``, which cannot be pickled, so :meth:`Model.__reduce__`
rebuilds an object from its field values instead, and an empty ``extra`` comes back as the
shared one.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

__all__ = ["EMPTY_EXTRA", "NOT_ON_WIRE", "Model"]

_M = TypeVar("_M", bound="Model")

#: The shared, immutable ``extra`` of every object that has no unknown fields.
EMPTY_EXTRA: Mapping[str, Any] = MappingProxyType({})

#: Fields that live on models but are not part of the wire format.
NOT_ON_WIRE = ("extra", "response")

# Type checkers see a Mapping subclass; at run time the Mapping ABC is registered (below) rather
# than inherited, so the models' metaclass stays ``type``: ABCMeta would make every
# ``isinstance(x, SomeModel)`` about eight times slower.
if TYPE_CHECKING:
    _MappingBase = Mapping[str, Any]
else:
    _MappingBase = object


@attrs.frozen(kw_only=True)
class Model(_MappingBase):
    """Base class of all agentchat models.

    ``extra`` holds the fields the server sent that this version of agentchat does not
    model, exactly as decoded from JSON.

    A model is a read-only mapping over its wire form (see the module docstring); attribute
    access (``completion.choices[0].message.content``) is the typed, faster way. Unlike a
    dict, a model is always true (an all-``None`` ``Usage`` included), equal only to a model
    of its own class, and not JSON-serialisable by ``json.dumps``: use :meth:`to_dict` or
    :meth:`to_json`.
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

    def to_json(self) -> str:
        """Compact JSON text of :meth:`to_dict`: the replacement for ``json.dumps(result)``
        on pydo's dict results (``json.dumps(result.to_dict())`` works too).

        NaN and infinities raise ``ValueError``: they are not JSON.
        """
        from .._json import dumps

        return dumps(self.to_dict()).decode()

    # -- copy and pickle ---------------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        # attrs' own __getstate__ would hand copy and pickle the shared MappingProxyType,
        # which neither can handle. The fields go by name, so a pickle does not depend on
        # their order; an empty ``extra`` is left out and comes back as EMPTY_EXTRA.
        cls = type(self)
        state = {name: getattr(self, name) for name in _state_names(cls)}
        extra = self.extra
        if extra:
            state["extra"] = dict(extra)
        return _restore, (cls, state)

    # -- the read-only mapping over the wire form ----------------------------------------------

    def __getitem__(self, key: str) -> Any:
        extra = self.extra
        if extra is not EMPTY_EXTRA and key in extra:  # to_dict() merges extra last: it wins
            return extra[key]
        if key in _wire_fields(type(self)):
            # A field this class knows reads like its attribute, None included: pydo's dicts
            # hold the ``null`` a server sent (``message["content"]`` of a tool call).
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        extra = self.extra
        if extra is not EMPTY_EXTRA and key in extra:
            return True
        if not isinstance(key, str):
            return False
        keep_none = _wire_fields(type(self)).get(key)
        return keep_none is not None and (keep_none or getattr(self, key) is not None)

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]`` if ``key`` is one of the keys (``to_dict()``'s), else ``default``."""
        return self[key] if key in self else default  # noqa: SIM401 (this is get())

    __reversed__ = None  # as in Mapping: reversed() would index the keys by position

    def keys(self) -> KeysView[str]:
        return KeysView(self)

    def items(self) -> ItemsView[str, Any]:
        return ItemsView(self)

    def values(self) -> ValuesView[Any]:
        return ValuesView(self)

    def __iter__(self) -> Iterator[str]:
        return iter(self._wire_keys())

    def __len__(self) -> int:
        return len(self._wire_keys())

    def __bool__(self) -> bool:
        # An object, not a container: an empty ChoiceDelta or an all-None Usage stays true,
        # as it was before models were mappings (``if chunk.usage:`` keeps its meaning).
        return True

    def _wire_keys(self) -> list[str]:
        """The keys of ``to_dict()``, in its order."""
        keys = [
            name
            for name, keep_none in _wire_fields(type(self)).items()
            if keep_none or getattr(self, name) is not None
        ]
        extra = self.extra
        if extra:
            known = set(keys)
            keys.extend(key for key in extra if key not in known)
        return keys


Mapping.register(Model)


def _restore(cls: type[_M], state: dict[str, Any]) -> _M:
    """Rebuild a model from :meth:`Model.__reduce__`'s state (module-level: pickle finds it)."""
    return cls(**state)


# Per class, computed on first use (they keep the few model classes alive; that is fine).
_WIRE_FIELDS: dict[type, dict[str, bool]] = {}
_STATE_NAMES: dict[type, tuple[str, ...]] = {}


def _wire_fields(cls: type[Model]) -> dict[str, bool]:
    """The wire fields of ``cls``, each mapped to whether ``to_dict()`` keeps it when it is
    ``None`` (only fields whose default is ``None`` are left out then), in ``to_dict()``'s
    order: the fields it always writes first, then those it may leave out."""
    fields = _WIRE_FIELDS.get(cls)
    if fields is None:
        wire = [f for f in attrs.fields(cls) if f.name not in NOT_ON_WIRE]
        fields = {f.name: True for f in wire if f.default is not None}
        fields.update((f.name, False) for f in wire if f.default is None)
        _WIRE_FIELDS[cls] = fields
    return fields


def _state_names(cls: type[Model]) -> tuple[str, ...]:
    names = _STATE_NAMES.get(cls)
    if names is None:
        names = _STATE_NAMES[cls] = tuple(
            field.name for field in attrs.fields(cls) if field.name != "extra"
        )
    return names
