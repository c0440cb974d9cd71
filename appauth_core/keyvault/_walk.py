"""The walk over nested settings (dicts, lists, tuples) that finds ``@Microsoft.KeyVault(...)`` references
and puts resolved values back, copying the containers on the way."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._references import is_reference

Path = tuple[Any, ...]  # keys and indexes from the settings root to a value


def find_references(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every (path, reference string) inside nested dicts, lists and tuples, depth first, in order."""
    if isinstance(data, str):
        if is_reference(data):
            yield path, data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from find_references(value, (*path, key))
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            yield from find_references(value, (*path, index))


def replace_at(data: Any, path: Path, value: Any) -> Any:
    """``data`` with the item at ``path`` replaced; containers on the way are copied, tuples stay tuples."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, Mapping):
        copy = dict(data)
        copy[head] = replace_at(data[head], rest, value)
        return copy
    items = list(data)
    items[head] = replace_at(items[head], rest, value)
    return tuple(items) if isinstance(data, tuple) else items
