"""Arguments and return values as JSON: what survives a round trip is taken, the rest refused."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any, what: str) -> str:
    """``value`` as JSON, compact, in UTF-8; TypeError or ValueError (naming ``what``) if reading it
    back would not give an equal value of the same types (tuples, sets, non-str keys, NaN...)."""
    return encode(value, what)[0]


def encode(value: Any, what: str) -> tuple[str, Any]:
    """``dumps``, and the value read back from the JSON (the caller's objects are not shared)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        text.encode("utf-8")  # a lone surrogate cannot be stored
    except TypeError as exc:
        raise TypeError(f"{what} must be JSON: {exc}") from None
    except ValueError as exc:  # NaN, infinities, a lone surrogate (UnicodeEncodeError)
        raise ValueError(f"{what} must be JSON: {exc}") from None
    try:
        return text, _copy_plain(value)
    except (_NotPlain, RecursionError):
        pass
    read = json.loads(text)
    if not _same(value, read):
        problem = _difference(value, read)
        raise TypeError(f"{what} must be JSON, and {problem}: it would not read back the same")
    return text, read


_SCALARS = frozenset({str, int, float, bool, type(None)})


class _NotPlain(Exception):
    """A value JSON may not read back the same: the round trip tells."""


def _copy_plain(value: Any) -> Any:
    """A copy of ``value`` made of lists, dicts of str keys and scalars of exactly the JSON types
    (their JSON reads back equal: no round trip needed); _NotPlain for anything else."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [_copy_plain(item) for item in value]
    if kind is dict:
        copied = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            copied[key] = _copy_plain(item)
        return copied
    raise _NotPlain


def _same(given: Any, read: Any) -> bool:
    """Whether ``read`` (its JSON round trip) equals ``given``, types included: ``_difference``
    without its message, for the common case (every enqueue)."""
    kind = type(given)
    if kind is not type(read):
        return False
    if kind is dict:
        return len(given) == len(read) and all(
            key == read_key and _same(value, read_value)
            for (key, value), (read_key, read_value) in zip(given.items(), read.items(), strict=True))
    if kind is list:
        return len(given) == len(read) and all(map(_same, given, read))
    return given == read


def _difference(given: Any, read: Any, where: str = "") -> str:
    """How ``read`` (its JSON round trip) differs from ``given`` ('' if it does not)."""
    if type(given) is not type(read):
        return f"{where or 'it'} is a {type(given).__name__}, read back as a {type(read).__name__}"
    if isinstance(given, dict):
        for (key, value), (read_key, read_value) in zip(given.items(), read.items(), strict=False):
            if key != read_key or len(given) != len(read):
                return f"{where or 'it'} has a key {key!r} that is not a distinct str"
            problem = _difference(value, read_value, f"{where}[{key!r}]")
            if problem:
                return problem
        return "" if len(given) == len(read) else f"{where or 'it'} has keys that are not distinct strs"
    if isinstance(given, list):
        for index, (value, read_value) in enumerate(zip(given, read, strict=True)):
            problem = _difference(value, read_value, f"{where}[{index}]")
            if problem:
                return problem
        return ""
    return "" if given == read else f"{where or 'it'} ({given!r}) reads back as {read!r}"
