"""What data may enter: identifiers, queue names, job idents, priorities, timeouts.

Each ``clean_*`` takes a value given to the API (``add_job``, ``requeue``, ``Queue.get_queue``,
worker options) and returns it as it is stored, or raises a clear error: ``InvalidType`` (a
TypeError) for a value of the wrong type, ``InvalidValue`` (a ValueError) for a wrong value. Each
``parse_*`` reads back a value found in Redis and raises InvalidValue when it is malformed, so
that the caller sets that one job or queue aside instead of stopping. ``printable`` escapes the
control characters of a text read from Redis before a terminal or a log shows it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .exceptions import InvalidType, InvalidValue

#: Priorities are integers that the scripts' numbers (doubles) hold and print exactly (Lua writes
#: 15 digits and more as 1e+15): Redis, the scripts and Python agree on them.
MAX_PRIORITY = 10**14 - 1
#: The longest timeout a job (or a worker option) may have, in seconds: a year.
MAX_SECONDS = 365 * 24 * 3600.0
#: The longest job identifier (and recurring job id), in characters: every lookup stays bounded.
MAX_IDENTIFIER_LENGTH = 1024
#: The longest queue name, in characters.
MAX_QUEUE_NAME_LENGTH = 200
#: The longest job ident (``module.Class:pk``) a lookup reads.
MAX_IDENT_LENGTH = 400
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shortened(value: str, length: int = 60) -> str:
    """A value for an error message: its repr, cut to ``length`` characters."""
    text = repr(value)
    return text if len(text) <= length else f"{text[:length]}... ({len(value)} characters)"


def clean_identifier(value: Any, what: str = "a job identifier") -> str:
    """A job identifier (``what`` says which): a non-empty str of at most MAX_IDENTIFIER_LENGTH
    characters."""
    if value is None:
        raise InvalidValue(f"{what} is needed (none was given)")
    if not isinstance(value, str):
        raise InvalidType(f"{what} is a str, not {type(value).__name__} ({_shortened(repr(value))})")
    if not value:
        raise InvalidValue(f"{what} is needed (an empty one was given)")
    if len(value) > MAX_IDENTIFIER_LENGTH:
        raise InvalidValue(f"{what} is at most {MAX_IDENTIFIER_LENGTH} characters, not {len(value)}")
    return value


def clean_queue_name(value: Any) -> str:
    """A queue name: a non-empty str without ``,`` (workers read ``--queues`` split on commas),
    of at most MAX_QUEUE_NAME_LENGTH characters."""
    if not isinstance(value, str):
        raise InvalidType(f"a queue name is a str, not {type(value).__name__} ({_shortened(repr(value))})")
    if not value or "," in value:
        raise InvalidValue(f"a queue name is a non-empty str without ',', not {_shortened(value)}")
    if len(value) > MAX_QUEUE_NAME_LENGTH:
        raise InvalidValue(f"a queue name is at most {MAX_QUEUE_NAME_LENGTH} characters, not {len(value)}")
    return value


def clean_lookup_name(value: Any) -> str:
    """A queue name to look up (a read): a non-empty str of at most MAX_QUEUE_NAME_LENGTH
    characters; a name made before names were checked (with a ``,``) is still found."""
    if not isinstance(value, str):
        raise InvalidType(f"a queue name is a str, not {type(value).__name__} ({_shortened(repr(value))})")
    if not value or len(value) > MAX_QUEUE_NAME_LENGTH:
        raise InvalidValue(f"a queue name has 1 to {MAX_QUEUE_NAME_LENGTH} characters, not {len(value)}")
    return value


def clean_schedule_id(value: Any, queue_name: str | None = None) -> str:
    """A recurring job id: an identifier; without ``queue_name``, its part after the last ``:``
    names the queue of its runs, so that part must be a queue name."""
    job_id = clean_identifier(value, "a recurring job id")
    if queue_name is None:
        try:
            clean_queue_name(job_id.rsplit(":", 1)[-1])
        except InvalidValue as exc:
            raise InvalidValue(f"the job id {_shortened(job_id)} names no queue (its part after the last "
                               f"':'): {exc}; give one with --queue") from None
    else:
        clean_queue_name(queue_name)
    return job_id


def printable(value: Any, newlines: bool = False) -> str:
    """A text with its control characters (ESC, BEL, CR... and, unless ``newlines``, line feeds
    and tabs) written as escapes (``\\x1b``): what a terminal or a text log may show as is."""
    text = value if isinstance(value, str) else str(value)
    pattern = _CONTROL if newlines else _CONTROL_ALL
    return pattern.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


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
