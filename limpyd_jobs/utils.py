"""Small helpers: UTC time handling, delays, and importing objects by dotted path."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta, timezone
from typing import Any, overload

from .exceptions import InvalidDelay

#: Every datetime is stored as redis-limpyd-jobs stores them, ``str(datetime.utcnow())``:
#: ``YYYY-MM-DD HH:MM:SS.ffffff``, naive, in UTC. Values with an offset (``+00:00``, written by
#: limpyd-jobs 3 before it wrote that form) are read too.


@overload
def to_utc(value: datetime) -> datetime: ...
@overload
def to_utc(value: Any) -> datetime | None: ...


def to_utc(value: Any) -> datetime | None:
    """An aware UTC datetime from a datetime (naive: taken as UTC), a timestamp or a stored
    string; None for anything else (a value that names no time included)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    return str_to_datetime(value) if isinstance(value, str) else None


def naive_utc(value: datetime) -> datetime:
    """``value`` as a naive datetime in UTC, as ``datetime.utcnow()`` gives (a naive value is
    taken to be in UTC already)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def datetime_to_str(value: datetime) -> str:
    """Serialize a datetime the way every limpyd-jobs field stores it: ``str()`` of it, naive UTC."""
    if value.tzinfo is not None:  # the usual case, UTC from the clock, costs one replace
        utc = value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)
        value = utc.replace(tzinfo=None)
    return value.isoformat(" ")  # what str() gives


def str_to_datetime(value: str | None) -> datetime | None:
    """Read back a stored datetime (naive, taken as UTC, or with an offset) as an aware UTC one."""
    if not value:
        return None
    try:
        return to_utc(datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return None


def datetime_to_score(value: datetime) -> float:
    """The timestamp used as score in sorted sets."""
    return to_utc(value).timestamp()


def stored(value: datetime) -> tuple[str, float]:
    """A moment as the scripts take it: its stored string and its score (timestamp)."""
    return datetime_to_str(value), value.timestamp()


def compute_delayed_until(delayed_until: Any = None, delayed_for: Any = None,
                          now: datetime | None = None) -> datetime | None:
    """Turn the ``delayed_until`` / ``delayed_for`` arguments into one UTC datetime, or None;
    ``delayed_for`` counts from ``now``.

    Raises InvalidDelay when a value has the wrong type or both are given.
    """
    if delayed_until is not None and delayed_for is not None:
        raise InvalidDelay("Pass either delayed_until or delayed_for, not both")
    if delayed_for is not None:
        if isinstance(delayed_for, bool) or not isinstance(delayed_for, (int, float, timedelta)):
            raise InvalidDelay(
                f"delayed_for must be a number of seconds (int or float) or a timedelta, "
                f"not {delayed_for!r}"
            )
        if now is None:
            raise ValueError("delayed_for needs the current time")
        try:
            if not isinstance(delayed_for, timedelta):
                delayed_for = timedelta(seconds=delayed_for)
            return now + delayed_for
        except (OverflowError, ValueError):  # NaN, infinite, or beyond what a datetime holds
            raise InvalidDelay(f"delayed_for must be a finite number of seconds that a datetime can hold, "
                               f"not {delayed_for!r}") from None
    if delayed_until is None:
        return None
    if isinstance(delayed_until, str):
        parsed = str_to_datetime(delayed_until)
        if parsed is None:
            raise InvalidDelay(f"delayed_until {delayed_until!r} is not a valid datetime string")
        return parsed
    if not isinstance(delayed_until, datetime):
        raise InvalidDelay(f"delayed_until must be a datetime, not {delayed_until!r}")
    return to_utc(delayed_until)


def import_string(path: str) -> Any:
    """Import ``package.module.attribute`` and return the attribute.

    Raises ImportError whose message names the path and the reason.
    """
    module_path, _, attribute = path.rpartition(".")
    if not module_path:
        raise ImportError(f"{path!r} is not a dotted path like 'package.module.name'")
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise ImportError(f"cannot import module {module_path!r} (from {path!r}): {exc}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(f"module {module_path!r} has no attribute {attribute!r}") from None


def normalize_names(names: str | list[str] | tuple[str, ...]) -> list[str]:
    """Accept one queue name, a comma-separated string, or a list; return a list of names."""
    if isinstance(names, str):
        names = names.split(",")
    return [name.strip() for name in names if name and name.strip()]
