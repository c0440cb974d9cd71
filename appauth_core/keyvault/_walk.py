"""The one walk over nested settings (mappings, lists, tuples): ``find_references`` finds the
``@Microsoft.KeyVault(...)`` strings in them, ``replace_references`` puts values in their place.

Containers are told apart by their type (``issubclass(type(x), ...)``), never by ``isinstance``, which asks
an object for its ``__class__`` and so sets up a lazy one (Django's ``LazyObject``) just by looking at it."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from ._references import is_reference

Path = tuple[Any, ...]  # keys and indexes from the settings root to a value


def find_references(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every (path, reference string) inside nested mappings, lists and tuples, depth first, in order."""
    kind = type(data)
    if issubclass(kind, str):
        if is_reference(data):
            yield path, data
    elif issubclass(kind, Mapping):
        for key, value in data.items():
            yield from find_references(value, (*path, key))
    elif issubclass(kind, (list, tuple)):
        for index, value in enumerate(data):
            yield from find_references(value, (*path, index))


def replace_references(data: Any, values: Mapping[Path, Any]) -> Any:
    """``data`` with ``values[path]`` at each path (as ``find_references`` gives them). Every container on the
    way to a path is copied and keeps its type (``OrderedDict``, ``defaultdict``, a named tuple ...; a mapping
    that cannot be copied becomes a ``dict``); everything else is shared with ``data``, which is left as it is."""
    if () in values:
        return values[()]
    if not values:
        return data
    below: dict[Any, dict[Path, Any]] = {}
    for path, value in values.items():
        below.setdefault(path[0], {})[path[1:]] = value
    kind = type(data)
    if issubclass(kind, tuple):
        items = list(data)
        for index, rest in below.items():
            items[index] = replace_references(items[index], rest)
        return kind(*items) if hasattr(kind, "_fields") else kind(items)
    replaced = copy.copy(data) if issubclass(kind, (dict, list)) else dict(data)
    for key, rest in below.items():
        replaced[key] = replace_references(data[key], rest)
    return replaced
