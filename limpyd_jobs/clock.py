"""Where limpyd-jobs reads the time.

Every "now" (a job added, taken, ended, delayed; a worker's maintenance; a recurring run; a
pending job) comes from a ``Clock``. Models read ``BaseJobsModel.clock`` and workers their
``clock`` parameter (by default their queue model's), so a test can put a clock it moves by hand
(``limpyd_jobs.testing.clock.ManualClock``) in place of the system's. Scripts never read Redis's
own clock: the time is always an argument, taken from the caller's clock.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


class Clock:
    """The system clock: aware UTC datetimes and Unix timestamps."""

    def now(self) -> datetime:
        """The current time, as an aware UTC datetime."""
        return datetime.now(timezone.utc)

    def time(self) -> float:
        """The current time, as a Unix timestamp."""
        return time.time()


#: The clock used unless another is given.
SYSTEM_CLOCK = Clock()
