"""When a failed job is retried, at which priority, and after how long."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

#: The longest delay when nothing caps it (a backoff can grow without end).
LONGEST_DELAY = 365 * 24 * 3600.0

#: The settings a Job class may set for its own jobs (None there: the worker's).
RETRY_SETTINGS = ("requeue_times", "requeue_delay_delta", "requeue_priority_delta", "requeue_backoff",
                  "requeue_jitter", "requeue_max_delay")


@dataclass(frozen=True)
class RetryPolicy:
    """The retry settings that apply to the jobs of one model under one worker."""

    requeue_times: int
    requeue_delay_delta: float
    requeue_priority_delta: int
    requeue_backoff: float
    requeue_jitter: float
    requeue_max_delay: float | None
    never_retry: tuple[type[BaseException], ...]

    @classmethod
    def of(cls, worker: Any, job_class: type) -> RetryPolicy:
        """The worker's settings, overridden by those the Job class sets (not None); exceptions
        never retried are both's."""
        values = {name: getattr(worker, name) if getattr(job_class, name, None) is None
                  else getattr(job_class, name) for name in RETRY_SETTINGS}
        never = tuple(worker.never_retry) + tuple(getattr(job_class, "never_retry", ()))
        return cls(**values, never_retry=never)

    def retries(self, tries: int, error: BaseException | None) -> bool:
        """Whether a job that failed its ``tries``-th attempt with ``error`` goes back to its queue."""
        if error is not None and self.never_retry and isinstance(error, self.never_retry):
            return False
        return tries <= self.requeue_times

    def delay(self, tries: int, rand: random.Random | None = None) -> float:
        """Seconds before the retry after the ``tries``-th attempt: ``requeue_delay_delta`` times
        ``requeue_backoff`` to the power ``tries - 1``, give or take ``requeue_jitter`` of it, at
        most ``requeue_max_delay``."""
        try:
            delay = float(self.requeue_delay_delta) * float(self.requeue_backoff) ** max(tries - 1, 0)
        except OverflowError:
            delay = math.inf
        if self.requeue_jitter and math.isfinite(delay):
            delay *= 1 + (rand or random).uniform(-self.requeue_jitter, self.requeue_jitter)
        longest = LONGEST_DELAY if self.requeue_max_delay is None else self.requeue_max_delay
        return max(min(delay, longest), 0.0)

    def priority(self, current: int) -> int:
        """The priority of the retry of a job that ran at ``current``."""
        return current + self.requeue_priority_delta
