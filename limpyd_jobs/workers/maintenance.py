"""A worker's periodic tasks, in one table read by its loop and by its wait."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..clock import Clock


@dataclass
class Task:
    """A named action to run every ``interval`` seconds."""

    name: str
    interval: float | None  # None: never; 0: at every pass of the loop
    action: Callable[[], None]
    #: Whether an idle worker wakes up for it (else it runs at the next pass of the loop).
    wakes: bool = True
    #: When it last ran (a clock timestamp), None before its first run.
    last: float | None = None
    #: When it is wanted before its interval is over (a clock timestamp), if it is.
    wanted_at: float | None = None

    def seconds_left(self, now: float) -> float | None:
        """Seconds until it is due (0 or less: due now), None if it never runs."""
        interval, wanted_at = self.interval, self.wanted_at
        left = None if interval is None else 0.0 if self.last is None else self.last + interval - now
        if wanted_at is None:
            return left
        return wanted_at - now if left is None else min(left, wanted_at - now)


class Maintenance:
    """The table of a worker's periodic tasks: the loop runs those due (``run_due``), the wait
    ends when the next one that ``wakes`` is due (``seconds_to_next``)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.tasks: dict[str, Task] = {}

    def add(self, name: str, interval: float | None, action: Callable[[], None], wakes: bool = True) -> None:
        self.tasks[name] = Task(name, interval, action, wakes)

    def run_due(self) -> None:
        """Run each task that is due, in the order they were added (a task that raises stays due)."""
        now = self.clock.time()
        for task in self.tasks.values():
            left = task.seconds_left(now)
            if left is not None and left < PRECISION:
                wanted_at, task.wanted_at = task.wanted_at, None  # the action may want it again
                try:
                    task.action()
                except BaseException:
                    task.wanted_at = _earliest(task.wanted_at, wanted_at)
                    raise
                task.last = now

    def done(self, name: str) -> None:
        """Note that a task ran outside the table (its next run counts from now)."""
        self.tasks[name].last = self.clock.time()

    def want(self, name: str, at: float | None) -> None:
        """Run a task at ``at`` (a clock timestamp) if its interval does not bring it sooner;
        None: no wish."""
        task = self.tasks[name]
        task.wanted_at = _earliest(task.wanted_at, at)

    def seconds_to_next(self, wanted_only: bool = False) -> float | None:
        """Seconds until the next task that wakes the worker is due, among those that ran already
        or are wanted at a time (only those, if ``wanted_only``); None if there is none."""
        now = self.clock.time()
        lefts = [left for task in self.tasks.values()
                 if task.wakes and (task.wanted_at is not None or (task.last is not None and not wanted_only))
                 for left in (task.seconds_left(now),) if left is not None]
        return min(lefts) if lefts else None


#: A task due in less than this (seconds) is due now: a wait cannot be that short.
PRECISION = 0.001


def _earliest(first: float | None, second: float | None) -> float | None:
    return second if first is None else first if second is None else min(first, second)
