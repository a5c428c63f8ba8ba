"""Shards: S independent job databases, each under a hash-tag prefix of its own (``{jobs-0}``...).

A queue name is in one shard (the table's, else crc32 of its UTF-8 name modulo S); the shard a
thread works in is ``using(index)``'s (threads started in it copy it), else 0. With
one shard (the default) nothing changes: the prefix is ``LIMPYD_JOBS_PREFIX``'s, or today's names.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl, urlparse

from .constants import PREFIX_VARIABLE
from .exceptions import ConfigurationException

#: The environment variable of the number of shards (``?shards=S`` in the URL says it too).
SHARDS_VARIABLE = "LIMPYD_JOBS_SHARDS"
#: The environment variable of the explicit table: ``queue=shard,queue=shard`` (``?shard_table=``).
TABLE_VARIABLE = "LIMPYD_JOBS_SHARD_TABLE"
#: The environment variable of the Redis URL (``connection`` reads it; its ``?shards=`` is read here).
URL_VARIABLE = "REDIS_URL"
#: The most shards: each is a slot of its own (a cluster has 16,384), and fans out cost one pass each.
MOST_SHARDS = 1024
#: The hash tag of shard N when ``LIMPYD_JOBS_PREFIX`` holds none.
TAG = "jobs"

T = TypeVar("T")


@dataclass(frozen=True)
class Layout:
    """How many shards, the explicit table (queue name -> shard) and the prefix they derive from."""

    count: int = 1
    table: dict[str, int] = field(default_factory=dict)
    base: str | None = None  # LIMPYD_JOBS_PREFIX

    def prefix(self, index: int) -> str:
        """The key prefix of shard ``index``: ``{jobs-N}``, or the base prefix with its tag numbered."""
        return _shard_prefix(self.base, index)

    def shard_of(self, queue_name: str) -> int:
        """The shard of a queue name: its row in the table, else crc32 of the name modulo S."""
        if self.count == 1:
            return 0
        if queue_name in self.table:
            return self.table[queue_name]
        return zlib.crc32(queue_name.encode()) % self.count


@functools.lru_cache(maxsize=256)
def _shard_prefix(base: str | None, index: int) -> str:
    """``Layout.prefix``, made once per base and shard (it is asked several times per command)."""
    if base and "{" in base:
        return re.sub(r"\{([^}]+)\}", lambda tag: f"{{{tag.group(1)}-{index}}}", base, count=1)
    return f"{base}:{{{TAG}-{index}}}" if base else f"{{{TAG}-{index}}}"


def read_count(value: str | int | None, where: str) -> int:
    """A number of shards read from ``where``; ConfigurationException if it is not a whole number >= 1."""
    if value is None or value == "":
        return 1
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MOST_SHARDS:
        raise ConfigurationException(f"{where}: shards must be a whole number from 1 to {MOST_SHARDS}, "
                                     f"not {value!r}")
    return int(text)


def read_table(value: str | None, count: int, where: str) -> dict[str, int]:
    """``queue=shard,queue=shard`` read into a dict; each shard checked against ``count``."""
    table: dict[str, int] = {}
    for row in (value or "").split(","):
        if not row.strip():
            continue
        name, equal, index = row.partition("=")
        index = index.strip()
        if not equal or not name.strip() or not (index.isascii() and index.isdigit()) or int(index) >= count:
            raise ConfigurationException(f"{where}: {row!r} is not queue=shard with a shard below {count}")
        table[name.strip()] = int(index)
    return table


def _from_environment() -> Layout:
    """The layout ``REDIS_URL``'s query says (``?shards=S&shard_table=...``), else the variables'."""
    url = os.environ.get(URL_VARIABLE) or ""
    query = dict(parse_qsl(urlparse(url).query)) if "shard" in url else {}
    if "shards" in query:
        where = f"environment variable {URL_VARIABLE}"
        count = read_count(query["shards"], where)
        table = read_table(query.get("shard_table"), count, where)
    elif "shard_table" in query:
        raise ConfigurationException(f"environment variable {URL_VARIABLE}: shard_table needs shards=S")
    else:
        count = read_count(os.environ.get(SHARDS_VARIABLE), f"environment variable {SHARDS_VARIABLE}")
        table = read_table(os.environ.get(TABLE_VARIABLE), count, f"environment variable {TABLE_VARIABLE}")
    return Layout(count, table, os.environ.get(PREFIX_VARIABLE) or None)


_layout: Layout | None = None
_current: contextvars.ContextVar[int | None] = contextvars.ContextVar("limpyd_jobs_shard", default=None)


def layout() -> Layout:
    """The layout of this process: ``configure``'s, else read from the environment once."""
    global _layout
    found = _layout
    if found is None:
        found = _layout = _from_environment()
    return found


def configure(count: int | None = None, table: dict[str, int] | None = None) -> Layout:
    """Set the number of shards (and the table) of this process; None keeps the environment's."""
    global _layout
    found = _from_environment()
    _layout = Layout(found.count if count is None else count, found.table if table is None else table,
                     found.base)
    return _layout


def count() -> int:
    """The number of shards (1: not sharded)."""
    return layout().count


def sharded() -> bool:
    """Whether there is more than one shard."""
    found = _layout
    return (found if found is not None else layout()).count > 1


def current() -> int:
    """The shard this thread works in now."""
    index = _current.get()
    return 0 if index is None else index


def prefix() -> str | None:
    """The prefix of the current shard, or None when not sharded (the configured prefix holds)."""
    found = _layout if _layout is not None else layout()
    return found.prefix(current()) if found.count > 1 else None


def shard_of(queue_name: str) -> int:
    """The shard of a queue name."""
    return layout().shard_of(queue_name)


def shards_of(queue_names: Iterable[str]) -> list[int]:
    """The shards of these queue names, each once, in order."""
    return sorted({shard_of(name) for name in queue_names})


@contextlib.contextmanager
def using(index: int) -> Iterator[int]:
    """Work in shard ``index`` in this thread (and the tasks it runs) until the block ends."""
    if not 0 <= index < count():
        raise ConfigurationException(f"no shard {index}: there are {count()}")
    token = _current.set(index)
    try:
        yield index
    finally:
        _current.reset(token)


def for_queue(queue_name: str) -> contextlib.AbstractContextManager[int]:
    """Work in the shard of ``queue_name`` until the block ends."""
    return using(shard_of(queue_name)) if sharded() else contextlib.nullcontext(current())


def across(call: Callable[[], T]) -> list[T]:
    """``call()`` in each shard in turn, its results in shard order (a fan-out: operations, the sweeper)."""
    if not sharded():
        return [call()]
    results = []
    for index in range(count()):
        with using(index):
            results.append(call())
    return results


#: A job named in its shard (an ident is per shard): ``module.Class:pk@N``, N in ASCII digits.
_QUALIFIED = re.compile(r"^(.+)@([0-9]+)$")


def split_qualified(text: str) -> tuple[str, int | None]:
    """``ident@N`` as (ident, N); any other text as (text, None)."""
    found = _QUALIFIED.match(text)
    return (found.group(1), int(found.group(2))) if found else (text, None)


def of_prefix(text: str) -> int | None:
    """The shard whose prefix starts ``text`` (a key, a model name), or None."""
    found = layout()
    for index in range(found.count if found.count > 1 else 0):
        if text.startswith(found.prefix(index) + ":"):
            return index
    return None


def serving(queue_names: Iterable[str]) -> contextlib.AbstractContextManager[int]:
    """Work in the one shard of these queues for the block (a worker's run: the threads it starts
    copy its context); ConfigurationException if they are in several shards."""
    names = list(queue_names)
    found = shards_of(names) if sharded() else [current()]
    if len(found) > 1:
        raise ConfigurationException(
            f"queues {','.join(names)} are in shards {', '.join(map(str, found))}: a worker serves one "
            f"shard (run a worker per shard: limpyd-jobs worker --processes does)")
    return using(found[0] if found else current())
