"""A clock that only moves when told to, for tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ..clock import Clock


class ManualClock(Clock):
    """Stands still at ``start`` (default: 2026-01-01 00:00 UTC) until ``advance`` moves it.

    It stands for Redis's clock too (``server_time`` False): the scripts use its time."""

    server_time = False

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._now = start if start.tzinfo else start.replace(tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward; return the new time."""
        self._now += timedelta(seconds=seconds)
        return self._now
