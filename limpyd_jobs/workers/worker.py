"""The Worker: takes jobs from its queues, runs them, and records how each run ended.

``run()`` repeats ``run_one()`` until ``must_stop()``. The other methods are the seed's
overridable hooks, each delegating to a part built once from the options (``compose``; see
``docs/ARCHITECTURE.md``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from limpyd.exceptions import DoesNotExist

from .. import shards
from ..exceptions import LimpydJobsException
from ..models import Job, Queue
from ..orm import model_name
from ..protocol import KEYS, STATUSES
from ..utils import naive_utc
from . import registry
from .compose import compose, configure, run_warning, wake_up_wait
from .settings import PARAMETERS, WorkerSettings
from .title import banner, proc_title

if TYPE_CHECKING:
    from .attempt import Attempt
    from .batch import SuccessBatch
    from .endings import Endings
    from .executors import InProcessExecutor
    from .failures import Failures
    from .fetcher import Fetcher, WakeUpWait
    from .flights import Flights
    from .holding import Holdings
    from .lifecycle import RunSteps
    from .lookout import Lookout
    from .maintenance import Maintenance
    from .recorder import Recorder
    from .runner import JobRun
    from .signals import StopSignals
    from .upkeep import Upkeep


class Worker(WorkerSettings):
    """Run the jobs of some queues. Every ``parameters`` entry can be passed or subclassed."""

    parameters: tuple[str, ...] = PARAMETERS
    #: Set the process title (``setproctitle``) at each step; the command turns it on.
    update_title = False
    #: Name shown in the process title.
    title_prefix = "limpyd-jobs-worker"
    #: Builds the worker's wait for announced jobs from the worker (tests use one on a manual clock).
    waiter_factory = staticmethod(wake_up_wait)

    # The parts, built once by ``compose`` (see docs/ARCHITECTURE.md).
    notify: Callable[..., None]
    signals: StopSignals
    upkeep: Upkeep
    maintenance: Maintenance
    fetcher: Fetcher
    waiter: WakeUpWait
    lookout: Lookout
    holdings: Holdings
    attempts: dict[str, Attempt]
    recorder: Recorder
    runner: JobRun
    executor: InProcessExecutor
    endings: Endings
    batch: SuccessBatch
    failures: Failures
    flights: Flights
    steps: RunSteps
    presence: registry.Presence

    def __init__(self, queues: Any = None, **kwargs: Any) -> None:
        configure(self, kwargs if queues is None else {**kwargs, "queues": queues})
        self._id = uuid.uuid4().hex[:8]
        self.keys: list[str] = []
        #: Names of the paused queues (read with the control key): no job is taken from them.
        self.paused: set[str] = set()
        self.status: str | None = None
        self.num_loops = 0
        self.end_forced = self.end_signal_caught = False
        self.signals_caught = 0
        self.start_date: datetime | None = None
        self.end_date: datetime | None = None
        self.wanted_end_date: datetime | None = None
        self.set_logger()
        compose(self)
        if self.terminate_gracefuly:
            self.handle_end_signal()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} queues={','.join(self.queues)}>"

    # --- setup and signals

    def set_logger(self) -> None:
        """Create ``self.logger`` from ``logger_name`` and ``logger_level``."""
        self.logger = logging.getLogger(self.logger_name)
        self.logger.setLevel(self.logger_level)

    def handle_end_signal(self) -> None:
        """Route SIGINT, SIGTERM and SIGHUP to ``catch_end_signal``, SIGQUIT to ``catch_stop_now_signal``."""
        self.signals.install()

    def stop_handling_end_signal(self) -> None:
        """Give the stop signals back to the handlers they had before."""
        self.signals.restore()

    def catch_end_signal(self, signum: int, frame: Any) -> None:
        """Stop once the current job is done (again: the job still finishes; SIGQUIT stops now)."""
        self.signals.end(signum)

    def catch_stop_now_signal(self, signum: int, frame: Any) -> None:
        """Stop now: interrupt the running job and put it back at the front of its queue."""
        self.signals.now(signum)

    # --- identity and state

    @property
    def id(self) -> str:
        """Identifies this worker in logs, the process title and Redis keys."""
        return self._id

    @property
    def connection(self) -> Any:
        """The redis-py connection of the queue model's database."""
        return self.queue_model.get_connection()

    @property
    def running_key(self) -> str:
        """Redis sorted set of the jobs this worker has taken and not finished."""
        return KEYS.running(worker=self.id)

    @property
    def wakeup_key(self) -> str:
        """Redis list whose tokens wake this worker up to read the control key (``control("HALT")``)."""
        return KEYS.worker_wakeup(worker=self.id)

    @property
    def elapsed(self) -> timedelta | None:
        """Time since ``run`` started (until it ended), or None before it runs."""
        if self.start_date is None:
            return None
        return (self.end_date or naive_utc(self.clock.now())) - self.start_date

    def log(self, message: str, level: str = "info", **fields: Any) -> None:
        """Log ``message`` at ``level``, prefixed by the worker's id; ``fields`` (and ``worker_id``)
        go on the log record, for structured logs."""
        getattr(self.logger, level)("[%s] %s", self.id, message, extra={"worker_id": self.id, **fields})

    def set_status(self, status: str) -> None:
        """Set the worker's status, and the process title if wanted."""
        self.status = status
        self.update_proc_title()

    def update_proc_title(self) -> None:
        """Show status, queues, loops and counts in the process title (if ``update_title``)."""
        if self.update_title:
            from setproctitle import setproctitle

            setproctitle(proc_title(self))

    def count_waiting_jobs(self) -> int:
        """Jobs waiting in this worker's queues."""
        return self.queue_model.count_waiting_jobs(self.queues)

    def count_delayed_jobs(self) -> int:
        """Jobs delayed in this worker's queues."""
        return self.queue_model.count_delayed_jobs(self.queues)

    @classmethod
    def registered_workers(cls, heartbeat_timeout: float | None = None) -> list[registry.WorkerInfo]:
        """Workers known to the registry (id, host, pid, queues, running jobs, alive or not), of
        every shard."""
        timeout = cls.heartbeat_timeout if heartbeat_timeout is None else heartbeat_timeout
        found = shards.across(lambda: registry.list_workers(cls.queue_model.get_connection(), timeout,
                                                            cls.queue_model.clock))
        return [info for infos in found for info in infos]

    # --- the loop

    def must_stop(self) -> bool:
        """True when ``end_forced`` is set, a stop signal was caught (with ``terminate_gracefuly``),
        ``max_loops`` jobs were taken, or ``wanted_end_date`` is past."""
        return bool(self.end_forced or (self.terminate_gracefuly and self.end_signal_caught)
                    or (self.max_loops and self.num_loops >= self.max_loops)
                    or (self.wanted_end_date
                        and naive_utc(self.clock.now()) >= naive_utc(self.wanted_end_date)))

    def run(self) -> None:
        """Run jobs until ``must_stop`` says so; a worker runs only once."""
        if self.status is not None:
            raise LimpydJobsException("This worker has already run: create a new one")
        self.status = "starting"
        self.start_date = naive_utc(self.clock.now())
        if self.max_duration:
            self.wanted_end_date = self.start_date + self.max_duration
        steps = self.steps
        with shards.serving(self.queues):  # the one shard of its queues, when sharded
            try:
                if steps.through_outages(steps.begin) and steps.through_outages(steps.await_queues):
                    self.run_started()
                    self.notify("on_start", self)
                    steps.through_outages(steps.loop)
            finally:
                steps.end()

    def run_one(self) -> bool:
        """One pass of the loop: maintenance, then wait for a job and run it. True if one was taken."""
        if self.flights.active:  # with concurrency: several jobs in flight
            return self.flights.run_one()
        self.maintenance.run_due()
        if self.must_stop():  # a HALT, or a signal, seen during the maintenance
            return False
        if self.fetcher.take_lost:
            self.upkeep.reconcile()
        self.notify("before_fetch", self)
        queue, job = self.wait_for_job() or (None, None)
        attempt = self.holdings.attempt_of(job, queue) if job is not None else None
        self.notify("after_fetch", self, attempt)
        if attempt is None:
            return False
        self.num_loops += 1
        self.upkeep.job_ran()
        self.runner.execute(job, queue, attempt)
        return True

    # --- the seed's hooks: each delegates to a part

    def update_keys(self) -> None:
        """Read the waiting keys of this worker's queues, highest priority first (but paused ones)."""
        self.upkeep.update_keys()

    def recover_lost_jobs(self) -> None:
        """Give back the jobs of workers that stopped beating (one worker at a time does it)."""
        self.upkeep.recover_lost_jobs()

    def start_beating(self) -> None:
        """Register this worker and start its heartbeat thread."""
        self.presence.start()

    def wait_for_job(self) -> tuple[Queue, Job] | None:
        """Take the next job of the highest priority, waiting up to ``timeout`` for one:
        ``(queue, job)``, or None if none came."""
        taken = self.lookout.next_take()
        queue, job = self.holdings.note_taken(taken) if taken is not None else (None, None)
        return (queue, job) if job is not None else None

    def get_job(self, job_ident: str) -> Job:
        """The job named by an ident taken from a waiting list; limpyd's DoesNotExist if there is
        none (not checked, so no round trip, for the job a take of this worker just found)."""
        return Job.get_from_ident(job_ident, lazy=job_ident == self.holdings.just_taken)

    def get_queue(self, queue_redis_key: str) -> Queue:
        """The queue whose waiting list has this Redis key; limpyd's DoesNotExist if there is none."""
        info = self.fetcher.info(queue_redis_key)
        if info is not None:
            return info.queue
        model, _, pk = queue_redis_key.removesuffix(":waiting").rpartition(":")
        if model != model_name(self.queue_model):
            raise DoesNotExist(f"{queue_redis_key!r} is not a waiting list of {self.queue_model.__name__}")
        return self.queue_model(pk)

    def execute(self, job: Job, queue: Queue) -> Any:
        """The default callback: run the job's ``run`` method."""
        return job.run(queue)

    def handle_job(self, job: Job, queue: Queue) -> None:
        """Run a job just taken (or skip or delay it if it was not WAITING) and record its end."""
        self.runner.handle(job, queue)

    def give_back(self, job: Job, queue: Queue) -> None:
        """Put a job interrupted by a stop-now signal (SIGQUIT) back at the front of its queue."""
        if self.endings.give_back(job, queue, patient=True):
            self.log(f"job {job.ident} interrupted and put back at the front of its queue", level="warning")

    def job_started(self, job: Job, queue: Queue) -> None:
        """The job is RUNNING (set when taken): log it and call its ``on_started``."""
        if self.logger.isEnabledFor(logging.INFO):  # messages cost: build them only when logged
            self.endings.log_job(self.job_started_message(job, queue), job, queue)
        job.on_started(queue)

    def job_started_message(self, job: Job, queue: Queue) -> str:
        """The line ``job_started`` logs."""
        return f"{self.holdings.label(job, queue)} starting"

    def job_success(self, job: Job, queue: Queue, job_result: Any) -> None:
        """The job is SUCCESS, unqueued and in the success list (written just before): log, ``on_success``."""
        if self.logger.isEnabledFor(logging.INFO):
            self.endings.log_job(self.job_success_message(job, queue, job_result), job, queue)
        job.on_success(queue, job_result)

    def job_success_message(self, job: Job, queue: Queue, job_result: Any) -> str:
        """The line ``job_success`` logs."""
        took = self.clock.now() - self.holdings.attempt_of(job, queue).taken_at
        return f"{self.holdings.label(job, queue)} success, in {took}"

    def job_error(self, job: Job, queue: Queue, exception: BaseException, trace: str | None = None) -> None:
        """Mark the job ERROR, save the error, log, call ``on_error``, then requeue it if allowed."""
        self.failures.record(job, queue, exception, trace)

    def job_error_message(self, job: Job, queue: Queue, to_be_requeued_exception: BaseException,
                          trace: str | None = None) -> str:
        """The line ``job_error`` logs."""
        exc = to_be_requeued_exception
        return f"{self.holdings.label(job, queue)} error: {type(exc).__name__}: {exc}"

    def additional_error_fields(self, job: Job, queue: Queue, exception: BaseException,
                                trace: str | None = None) -> dict[str, Any]:
        """Extra fields for the Error object (for ``error_model`` subclasses); none by default."""
        return {}

    def requeue_job(self, job: Job, queue: Queue, priority: int, delayed_for: float | None = None) -> None:
        """Put a failed job back in its queue at ``priority``, after ``delayed_for`` seconds."""
        self.failures.requeue(job, queue, priority, delayed_for)

    def job_requeue_message(self, job: Job, queue: Queue) -> str:
        """The line logged when a failed job is requeued."""
        return f"{self.holdings.label(job, queue)} requeued (priority {job.priority.hget()})"

    def job_skipped(self, job: Job, queue: Queue) -> None:
        """The job was not run (not WAITING) or canceled while running: unqueue it, ``on_skipped``."""
        if self.endings.skip(job, queue):
            self.endings.log_job(self.job_skipped_message(job, queue), job, queue, level="warning")
            job.on_skipped(queue)

    def job_skipped_message(self, job: Job, queue: Queue) -> str:
        """The line ``job_skipped`` logs."""
        status = STATUSES.by_value(getattr(job, "_cached_status", None) or job.status.hget(), "UNKNOWN")
        return f"{self.holdings.label(job, queue)} job skipped (current status: {status})"

    def job_delayed(self, job: Job, queue: Queue) -> None:
        """The job's status is DELAYED: put it in the delayed set (60s if no valid date), ``on_delayed``."""
        if self.endings.delay(job, queue):
            self.endings.log_job(self.job_delayed_message(job, queue), job, queue, level="warning")
            job.on_delayed(queue)

    def job_delayed_message(self, job: Job, queue: Queue) -> str:
        """The line ``job_delayed`` logs."""
        return f"{self.holdings.label(job, queue)} job delayed until {job.delayed_until.hget()}"

    def run_started(self) -> None:
        """Called once the keys are known, just before the loop: logs the banner (and a warning
        when no job can run: no callback, no ``run`` of a Job model)."""
        self.log(banner(self))
        if (warning := run_warning(self)) is not None:
            self.log(warning, level="warning")

    def run_ended(self) -> None:
        """Called when the loop is over."""
        self.log(f"run ended after {self.num_loops} loop(s)")
