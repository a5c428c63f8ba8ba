"""What data may enter: identifiers, queue names, priorities, timeouts.

Each ``clean_*`` takes a value given to the API (``add_job``, ``requeue``, ``Queue.get_queue``,
worker options) and returns it as it is stored, or raises a clear error: ``InvalidType`` (a
TypeError) for a value of the wrong type, ``InvalidValue`` (a ValueError) for a wrong value. Each
``parse_*`` reads back a value found in Redis and raises InvalidValue when it is malformed, so
that the caller sets that one job or queue aside instead of stopping.
"""

from __future__ import annotations

import math
from typing import Any

from .exceptions import InvalidType, InvalidValue

#: Priorities are integers that the scripts' numbers (doubles) hold and print exactly (Lua writes
#: 15 digits and more as 1e+15): Redis, the scripts and Python agree on them.
MAX_PRIORITY = 10**14 - 1
#: The longest timeout a job (or a worker option) may have, in seconds: a year.
MAX_SECONDS = 365 * 24 * 3600.0


def clean_identifier(value: Any) -> str:
    """A job identifier: a non-empty str."""
    if value is None:
        raise InvalidValue("a job needs an identifier (none was given)")
    if not isinstance(value, str):
        raise InvalidType(f"a job identifier is a str, not {type(value).__name__} ({value!r})")
    if not value:
        raise InvalidValue("a job needs an identifier (an empty one was given)")
    return value


def clean_queue_name(value: Any) -> str:
    """A queue name: a non-empty str without ``,`` (workers read ``--queues`` split on commas)."""
    if not isinstance(value, str):
        raise InvalidType(f"a queue name is a str, not {type(value).__name__} ({value!r})")
    if not value or "," in value:
        raise InvalidValue(f"a queue name is a non-empty str without ',', not {value!r}")
    return value


def clean_priority(value: Any) -> int:
    """A priority: an integer (or its text) of at most 14 digits; a float only if whole."""
    if isinstance(value, bool):
        raise InvalidType(f"priority must be an integer, not {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidValue(f"priority must be an integer, not {value!r}")
        value = int(value)
    if isinstance(value, str):
        return parse_priority(value)
    if not isinstance(value, int):
        raise InvalidType(f"priority must be an integer, not {type(value).__name__} ({value!r})")
    return _bounded_priority(value)


def parse_priority(value: Any) -> int:
    """A priority as stored (the text of an integer)."""
    text = str(value).strip()
    if not text.lstrip("-").isdigit() or not text.lstrip("-").isascii():
        raise InvalidValue(f"priority must be an integer, not {value!r}")
    return _bounded_priority(int(text))


def _bounded_priority(number: int) -> int:
    if abs(number) > MAX_PRIORITY:
        raise InvalidValue(f"priority {number} is beyond +/-{MAX_PRIORITY} (what Lua numbers write exactly)")
    return number


def clean_seconds(value: Any, zero: bool = True, name: str = "a number of seconds") -> float:
    """A number of seconds (or its text): finite, from 0 (above 0 unless ``zero``) to a year;
    ``name`` says what it is in the error."""
    if isinstance(value, bool):
        raise InvalidType(f"{name} is a number of seconds, not {value!r}")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidValue(f"{name} is a number of seconds, not {value!r}") from None
    if not math.isfinite(seconds) or not (0 <= seconds if zero else 0 < seconds) or seconds > MAX_SECONDS:
        raise InvalidValue(f"{name} is a number of seconds {'from' if zero else 'above'} 0 to "
                           f"{MAX_SECONDS:.0f}, not {value!r}")
    return seconds


def clean_timeout(value: Any) -> float:
    """A timeout: seconds above 0, at most a year."""
    return clean_seconds(value, zero=False, name="a timeout")


def parse_timeout(value: Any) -> float | None:
    """A job's ``timeout`` field as stored ('' or None: none)."""
    return None if value in (None, "") else clean_timeout(value)


def parse_count(value: Any) -> float:
    """A count as stored (a job's ``tries``): a finite number, 0 when missing."""
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        raise InvalidValue(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidValue(f"{value!r} is not a finite number")
    return number
