"""Where limpyd-jobs reads the time.

Every "now" (a job added, taken, ended, delayed; a worker's maintenance; a recurring run; a
pending job) comes from a ``Clock``. Models read ``BaseJobsModel.clock`` and workers their
``clock`` parameter (by default their queue model's), so a test can put a clock it moves by hand
(``limpyd_jobs.testing.clock.ManualClock``) in place of the system's. Liveness (heartbeats, dead
workers) and the due time of delayed jobs are decided with Redis's clock (``TIME``, in the
scripts) when the caller's clock is the system's (``server_time``): hosts' clocks may disagree.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any


class Clock:
    """The system clock: aware UTC datetimes and Unix timestamps."""

    #: Whether the scripts decide liveness and due times with Redis's own clock rather than this
    #: one: True for the system clock (hosts disagree), False for a clock a test moves by hand.
    server_time = True

    def now(self) -> datetime:
        """The current time, as an aware UTC datetime."""
        return datetime.now(timezone.utc)

    def time(self) -> float:
        """The current time, as a Unix timestamp."""
        return time.time()


#: The clock used unless another is given.
SYSTEM_CLOCK = Clock()


def script_time(clock: Clock) -> float | str:
    """The "now" given to a script that decides liveness or due times: '' (the script reads
    Redis's TIME) for a clock with ``server_time``, else that clock's time."""
    return "" if clock.server_time else clock.time()


def liveness_time(clock: Clock, connection: Any) -> float:
    """The "now" heartbeats are compared with: Redis's (one round trip) or an injected clock's."""
    if not clock.server_time:
        return clock.time()
    seconds, microseconds = connection.time()
    return seconds + microseconds / 1_000_000
