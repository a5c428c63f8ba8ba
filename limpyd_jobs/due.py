"""A due set: members of a sorted set scored by the time (a Unix timestamp) they are due at.

The three "run later" mechanisms are due sets: a queue's ``delayed`` jobs, the recurring
``Timeline``'s ``runs``, and the pending jobs' ``Schedule``. Taking what is due happens in the
scripts (``lib/queues.lua``'s ``due_take``: the due members leave the set, or move to a new time, in
the same atomic step as what follows); this class reads a due set and places single members, with
"now" read from an injected clock.
"""

from __future__ import annotations

from typing import Any

from .clock import SYSTEM_CLOCK, Clock


class DueSet:
    """The due set stored at ``key``."""

    def __init__(self, connection: Any, key: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.connection = connection
        self.key = key
        self.clock = clock

    def place(self, member: Any, at: float) -> None:
        """Make ``member`` due at ``at`` (moving it if it is there already)."""
        self.connection.zadd(self.key, {member: at})

    def remove(self, member: Any) -> bool:
        """Take ``member`` out; True if it was there."""
        return bool(self.connection.zrem(self.key, member))

    def due_at(self, member: Any) -> float | None:
        """When ``member`` is due, or None if it is not in the set."""
        return self.connection.zscore(self.key, member)

    def first(self) -> tuple[Any, float] | None:
        """``(member, due at)`` of the member due first, or None if the set is empty."""
        first = self.connection.zrange(self.key, 0, 0, withscores=True)
        return (first[0][0], first[0][1]) if first else None

    def entries(self) -> list[tuple[Any, float]]:
        """Every ``(member, due at)``, the first due first."""
        return [(member, at) for member, at in self.connection.zrange(self.key, 0, -1, withscores=True)]

    def count_due(self) -> int:
        """How many members are due now."""
        return self.connection.zcount(self.key, "-inf", self.clock.time())

    def __len__(self) -> int:
        return self.connection.zcard(self.key)
