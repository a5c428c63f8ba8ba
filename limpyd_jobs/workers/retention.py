"""A worker's retention of finished jobs: purges in bounded slices, as often as jobs finish.

A purge removes at most ``SLICE`` entries per list (one script: Redis is blocked for a few ms).
It runs every ``purge_delay`` seconds, after every ``SLICE`` jobs the worker ran, when the
worker finds no job after some ran, and again at the next pass of the loop while it removed a
full slice: deletions keep up with ends at any rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Entries a purge examines per list: about 2 ms of Redis for 250 jobs with a short history (7 us
#: each, measured), and how far past ``keep_finished`` a list goes per worker.
SLICE = 250


class Retention:
    """Decides when a worker purges the finished jobs of its queues, and runs the purges."""

    def __init__(self, keep: int | None, ttl: float | None, every: float | None, error_model: Any) -> None:
        self.keep, self.ttl, self.error_model = keep, ttl, error_model
        self.slice = SLICE
        self.limited = keep is not None or ttl is not None
        #: Whether ends bring purges forward (not with ``purge_delay`` 0: this worker never purges).
        self.counting = bool(every) and self.limited
        self.runs = 0  # jobs run since the last purge

    def ran(self) -> bool:
        """Note that a job ran; True when a slice's worth ran since the last purge (one is due)."""
        self.runs += 1
        return self.counting and self.runs >= self.slice

    def idle(self) -> bool:
        """Whether a worker that found no job has ends it did not purge (it purges them then)."""
        return self.counting and self.runs > 0

    def purge(self, queues: Iterable[Any]) -> tuple[int, bool]:
        """Purge each queue once: the jobs deleted, and whether a list may have more to remove."""
        self.runs = 0
        if not self.limited:
            return 0, False
        deleted, behind = 0, False
        for queue in queues:
            purged = queue.purge_finished_slice(self.keep, self.ttl, self.slice, error_model=self.error_model)
            deleted += purged.deleted
            behind = behind or purged.full
        return deleted, behind
