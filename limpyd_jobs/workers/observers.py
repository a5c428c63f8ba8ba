"""Observers: objects a worker tells of each step (metrics, history, tracing without subclassing).

    class Timing(WorkerObserver):
        def after_run(self, worker, attempt, error):
            print(attempt.identifier, "failed" if error else "ran")

Every method is a no-op here; what an observer raises is logged and ignored. In the forked
modes the run and record steps happen in the child process, so their observers are called there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from .attempt import Attempt


class WorkerObserver:
    """The steps of a worker, from ``on_start`` to ``on_stop``."""

    def on_start(self, worker: Any) -> None:
        """The run starts (the worker is registered, its queues known)."""

    def on_stop(self, worker: Any) -> None:
        """The run ended."""

    def before_fetch(self, worker: Any) -> None:
        """The worker is about to take a job (it may wait for one)."""

    def after_fetch(self, worker: Any, attempt: Attempt | None) -> None:
        """The worker took a job (``attempt``), or none before its wait ended (None)."""

    def before_run(self, worker: Any, attempt: Attempt) -> None:
        """The job's callback is about to run."""

    def after_run(self, worker: Any, attempt: Attempt, error: BaseException | None) -> None:
        """The job's callback returned (``error`` None) or raised ``error``."""

    def before_record(self, worker: Any, attempt: Attempt, ending: str) -> None:
        """The end of the job is about to be written: ``ending`` is success, error, skipped,
        delayed or given_back."""

    def after_record(self, worker: Any, attempt: Attempt, ending: str) -> None:
        """The end of the job was written (the job's own hook follows)."""


class Observers:
    """The observers of one worker: ``observers("after_run", ...)`` calls that method of each,
    logging what they raise."""

    def __init__(self, observers: Sequence[WorkerObserver], logger: logging.Logger) -> None:
        self.observers = tuple(observers)
        self.logger = logger

    def __call__(self, method: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, method)(*args)
            except Exception:
                self.logger.exception("observer %r failed in %s", observer, method)


def notifier(observers: Sequence[WorkerObserver], logger: logging.Logger) -> Callable[..., None]:
    """What a worker calls at each step: its ``Observers``, or a function that does nothing
    when there are none (the steps of a job cost nothing then)."""
    return Observers(observers, logger) if observers else _no_observer


def _no_observer(method: str, *args: Any) -> None:
    """No observer to tell."""
