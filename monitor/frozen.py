"""Read-only containers for event data.

Every event is delivered to several sinks in turn (the JSON-lines file, the
summary, the coach, the operator screen, the hub publisher).  If one of them
changed a dict or list inside an event, every sink after it would see the
change: the hub's privacy redaction once removed fields from the summary that
the console then printed (issue 9, item 1).  So an event's data is deep-frozen
when the event is made, and nothing a sink does can change what another sink
sees.

:class:`FrozenDict` and :class:`FrozenList` are ``dict`` and ``list``
subclasses, so reading code, ``==`` against plain values and ``json.dumps``
work unchanged; every method that would change them raises ``TypeError``.
:func:`thaw` gives a plain, mutable deep copy for code that wants to build a
changed version (``Event.to_dict`` uses it).
"""

from __future__ import annotations

from typing import Any, Mapping, NoReturn

_READ_ONLY = ("event data is read-only (it is shared by every sink); "
              "change a copy: event.to_dict() or thaw(value)")


def _refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(_READ_ONLY)


class FrozenDict(dict):
    """A dict that cannot be changed after it is made."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> "FrozenDict":
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return thaw(self)          # someone deep-copies to change it: give them a plain dict


class FrozenList(list):
    """A list that cannot be changed after it is made."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))

    def __copy__(self) -> "FrozenList":
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return thaw(self)


#: Immutable leaves, returned as they are without an ABC check (most event fields).
_SCALARS = frozenset({int, float, str, bool, type(None)})


def freeze(value: Any) -> Any:
    """A deep, read-only copy of JSON-like data (dicts, lists, tuples, scalars).

    Already frozen containers are returned as they are (they were frozen deeply)."""
    kind = type(value)
    if kind in _SCALARS or kind is FrozenDict or kind is FrozenList:
        return value
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy of (possibly frozen) JSON-like data."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value
