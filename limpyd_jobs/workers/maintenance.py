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

    def seconds_left(self, now: float) -> float | None:
        """Seconds until it is due (0 or less: due now), None if it never runs."""
        if self.interval is None:
            return None
        return 0.0 if self.last is None else self.last + self.interval - now


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
            if left is not None and left <= 0:
                task.action()
                task.last = now

    def done(self, name: str) -> None:
        """Note that a task ran outside the table (its next run counts from now)."""
        self.tasks[name].last = self.clock.time()

    def seconds_to_next(self) -> float | None:
        """Seconds until the next task that wakes the worker is due, among those that ran already;
        None if there is none."""
        now = self.clock.time()
        lefts = [left for task in self.tasks.values() if task.wakes and task.last is not None
                 for left in (task.seconds_left(now),) if left is not None]
        return min(lefts) if lefts else None
