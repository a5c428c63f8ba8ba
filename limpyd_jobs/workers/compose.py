"""A worker's options checked, and its parts built from them, once, when it is made."""

from __future__ import annotations

import inspect
from typing import Any

from ..exceptions import ConfigurationException
from ..models import Job, job_models
from . import registry
from .batch import SuccessBatch
from .endings import Endings
from .executors import EXECUTORS
from .failures import Failures
from .fetcher import Fetcher, WakeUpWait
from .flights import Flights, FlightsExecutor
from .holding import Holdings
from .lifecycle import RunSteps
from .lookout import Lookout
from .observers import notifier
from .recorder import Recorder
from .runner import JobRun
from .settings import SETTINGS, check, clean
from .signals import StopSignals
from .upkeep import Upkeep

_DEFAULT_MAX_LOOPS = next(setting.default for setting in SETTINGS if setting.name == "max_loops")


def configure(worker: Any, kwargs: dict[str, Any]) -> None:
    """Set the parameters given on a worker, then clean and check every option."""
    unknown = set(kwargs) - set(worker.parameters)
    if unknown:
        raise ConfigurationException(f"Unknown worker parameter(s): {', '.join(sorted(unknown))}")
    for name, value in kwargs.items():
        setattr(worker, name, value)
    for setting in SETTINGS:
        setattr(worker, setting.name, clean(setting, getattr(worker, setting.name)))
    if worker.burst and "max_loops" not in kwargs and type(worker).max_loops == _DEFAULT_MAX_LOOPS:
        worker.max_loops = None  # a burst runs until the queues are empty, not 1000 jobs
    check(worker)
    if worker.callback is None:
        worker.callback = worker.execute
    else:
        check_callback(worker.callback)
    if worker.clock is None:
        worker.clock = worker.queue_model.clock


def check_callback(callback: Any) -> None:
    """Refuse a callback that cannot be called with ``(job, queue)``, before any job fails for it."""
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # a builtin without a signature: trusted
        return
    try:
        signature.bind(None, None)
    except TypeError as exc:
        name = getattr(callback, "__qualname__", repr(callback))
        raise ConfigurationException(f"the callback {name}{signature} cannot be called with (job, queue): "
                                     f"{exc}") from None


def run_warning(worker: Any) -> str | None:
    """What to warn of at start: no callback, and no Job model of this process with its own ``run``
    (every job would then fail with NotImplementedError)."""
    owner = next(klass for klass in type(worker).__mro__ if "execute" in vars(klass))
    if worker.callback != worker.execute or owner.__module__ != __name__.rpartition(".")[0] + ".worker":
        return None
    if any(model.run is not Job.run for model in job_models()):
        return None
    return ("no callback, and no Job model here has its own run(): every job will fail with "
            "NotImplementedError (give --callback, or a Job subclass with a run method)")


def wake_up_wait(worker: Any) -> WakeUpWait:
    """The wait of a worker for a job announced in its queues, or a token in its own list."""
    return WakeUpWait(worker.queue_model.database, [*worker.fetcher.wakeup_keys(), worker.wakeup_key],
                      worker.timeout)


def compose(worker: Any) -> None:
    """Build the parts of a configured worker (see docs/ARCHITECTURE.md)."""
    worker.notify = notifier(worker.observers, worker.logger)
    worker.signals = StopSignals(worker)
    worker.upkeep = Upkeep(worker)
    worker.maintenance = worker.upkeep.table()
    worker.fetcher = Fetcher(worker.queue_model, worker.queues, worker.queue_cycle, worker.id, worker.clock,
                             on_next_due=worker.upkeep.delayed_due_at, prefetch=worker.prefetch)
    worker.waiter = worker.waiter_factory(worker)
    worker.lookout = Lookout(worker)
    worker.holdings = Holdings(worker)
    worker.attempts = worker.holdings.attempts
    worker.recorder = Recorder(worker.queue_model, worker.id, worker.clock, worker.signals.stopping_now,
                               worker.log)
    worker.runner = JobRun(worker)
    worker.flights = Flights(worker)
    worker.executor = (FlightsExecutor(worker.flights, worker.timeout_grace) if worker.flights.active
                       else EXECUTORS[worker.execution_mode](worker.runner.run, worker.timeout_grace))
    worker.endings = Endings(worker)
    worker.batch = SuccessBatch(worker)
    worker.failures = Failures(worker)
    worker.steps = RunSteps(worker)
    worker.presence = registry.Presence(
        lambda: worker.queue_model.database, worker.id, worker.queues, worker.execution_mode,
        worker.heartbeat_interval, worker.clock)
