"""How a worker finds its next job: take at once, or wait until one is announced (or it must stop)."""

from __future__ import annotations

import math
from typing import Any

from ..protocol.scripts.take import Taken
from ..utils import naive_utc


class Lookout:
    """Takes the next job through the ``Fetcher``, blocking on the ``WakeUpWait`` when the queues
    are empty: a job added wakes the worker, no poll is needed."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        #: When the last look found nothing (a clock timestamp); None: it found a job.
        self.idle_since: float | None = None
        #: A burst found its queues empty (its own end, not an order to stop).
        self.burst_over = False

    def next_take(self) -> Taken | None:
        """The next job of the highest priority, waiting up to ``timeout`` for one (None if none came)."""
        worker = self.worker
        looked = self._take_before_waiting()
        taken = worker.fetcher.take(worker.keys) if looked else None
        if taken is None and worker.burst:
            self._burst_over()
        elif taken is None:
            if looked:
                self.idle_since = worker.clock.time()
                worker.upkeep.going_idle()
            worker.set_status("waiting")
            if self.wait_for_wakeup():
                self.idle_since = None
                taken = worker.fetcher.take(worker.keys, woken=True)
                if taken is None:  # announced in a queue (a priority) not known yet
                    worker.update_keys()
                    taken = worker.fetcher.take(worker.keys, woken=True)
        else:
            self.idle_since = None
        return taken

    def wait_for_wakeup(self) -> bool:
        """Block until a job is announced in one of the queues (True), or the wait ends (False);
        a token in the worker's own list wakes it up to read the control key at once."""
        worker = self.worker
        seconds = self._wait_time()
        if seconds is None or not worker.waiter.wait(seconds, worker.must_stop):
            return False
        if worker.waiter.woken_by == worker.wakeup_key:
            worker.upkeep.check_control()
            return False
        return True

    def _take_before_waiting(self) -> bool:
        """Not when the last look found nothing and no job was announced since (every job that comes
        is), unless ``timeout`` went by (an announce may be lost)."""
        worker = self.worker
        return (self.idle_since is None or worker.burst or worker.fetcher.holds_one
                or bool(worker.timeout and worker.clock.time() - self.idle_since >= worker.timeout))

    def _burst_over(self) -> None:
        """In ``burst`` mode, nothing to take: stop, unless delayed jobs are due (moved at the next
        pass) or queues (priorities) appeared since the keys were read (taken from next)."""
        worker = self.worker
        due = worker.fetcher.next_due
        if due is not None and due <= worker.clock.time():
            return
        known = worker.fetcher.keys()
        worker.update_keys()
        if worker.fetcher.keys() != known:
            return
        paused = sorted(set(worker.queues) & worker.paused)
        if paused:  # not empty: their jobs wait for a resume
            worker.log(f"queues paused: {','.join(paused)}; the others are empty: burst over",
                       level="warning")
        else:
            worker.log("queues empty: burst over")
        self.burst_over = worker.end_forced = True

    def _wait_time(self) -> float | None:
        """Seconds to block: ``timeout``, shortened to the next maintenance (moving the first delayed
        job when it is due is one) or the end of the run (0: no limit; None: nothing to wait for)."""
        worker = self.worker
        maintenance = worker.maintenance.seconds_to_next(wanted_only=worker.timeout == 0)
        deadlines = [worker.timeout or None, maintenance]
        if worker.wanted_end_date is not None:
            left = naive_utc(worker.wanted_end_date) - naive_utc(worker.clock.now())
            deadlines.append(left.total_seconds())
        known = [deadline for deadline in deadlines if deadline is not None]
        if not known:
            return 0
        wait = min(known)
        # BLPOP takes seconds with millisecond precision (rounded up: never wake before a due time);
        # below that there is nothing to wait for.
        return None if wait < 0.001 else math.ceil(wait * 1000) / 1000
