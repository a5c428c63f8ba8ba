"""The Worker: takes jobs from its queues, runs them, and records how each run ended.

``run()`` repeats ``run_one()`` until ``must_stop()``: ``maintain`` (the periodic tasks:
``update_keys``, ``requeue_delayed_jobs``, ``recover_lost_jobs``, ``purge_finished_jobs``,
``check_control``), ``wait_for_job``, then the executor runs ``handle_job``: ``job_started``,
the callback, then ``job_success``, ``job_error``, ``job_skipped`` or ``job_delayed``. Those are
the seed's overridable methods; the work is done by parts the Worker composes (see
``docs/ARCHITECTURE.md``): a ``Fetcher`` and its ``WakeUpWait``, a ``Recorder``, a
``Maintenance`` table, an executor, a ``Presence`` in the registry, and ``Observers``.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import traceback as traceback_module
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from limpyd.exceptions import DoesNotExist
from redis.exceptions import RedisError

from .. import __version__
from ..connection import describe
from ..constants import CONTROL_CHECK_DELAY, DEFAULT_DELAY
from ..exceptions import ConfigurationException, InvalidIdent, JobProcessDied, JobTimeout, LimpydJobsException
from ..models import Job, Queue
from ..outages import Outage, is_outage
from ..protocol import KEYS, STATUSES, EndRefusal, TakeOutcome
from ..protocol.scripts import reconcile, requeue_delayed, start_job, stop_workers, untake
from ..protocol.scripts.take import Taken
from ..utils import datetime_to_str, naive_utc, stored, str_to_datetime
from ..validation import parse_count, parse_timeout
from . import registry
from .attempt import Attempt
from .executors import DIED, EXECUTORS, INTERRUPTED, TIMEOUT, Outcome
from .fetcher import Fetcher, WakeUpWait
from .maintenance import Maintenance
from .observers import notifier
from .recorder import Recorder
from .retries import RetryPolicy
from .settings import PARAMETERS, SETTINGS, WorkerSettings, check, clean

#: The longest error text a job's history keeps for one failure.
HISTORY_DETAIL_MAX = 500


class Worker(WorkerSettings):
    """Run the jobs of some queues. Every ``parameters`` entry can be passed or subclassed."""

    parameters: tuple[str, ...] = PARAMETERS
    #: Set the process title (``setproctitle``) at each step; the command turns it on.
    update_title = False
    #: Name shown in the process title.
    title_prefix = "limpyd-jobs-worker"

    def __init__(self, queues: Any = None, **kwargs: Any) -> None:
        self._configure(kwargs if queues is None else {**kwargs, "queues": queues})
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
        #: The jobs this worker took and is running, by ident.
        self.attempts: dict[str, Attempt] = {}
        #: Successes not written yet (``prefetch``): written together, with the next take.
        self._unrecorded: dict[str, tuple[Job, Queue, Attempt, Any, datetime]] = {}
        self._idle_since: float | None = None  # when the last look found nothing (None: it found a job)
        self._found_by_take = ""  # the ident of the job a take just found: get_job need not check it
        self._stopping = threading.Event()  # set by a stop signal: ends waits
        self._stopping_now = threading.Event()  # set by SIGQUIT: ends retries too
        self._signal_handlers: dict[int, Any] = {}
        self._metrics_server: Any = None
        self.set_logger()
        self._compose()
        if self.terminate_gracefuly:
            self.handle_end_signal()

    def _compose(self) -> None:
        """Build the parts from the options (again when the run starts: options set on the worker
        after it was made count)."""
        self.notify = notifier(self.observers, self.logger)
        self.maintenance = self._maintenance_table()
        self.fetcher = Fetcher(self.queue_model, self.queues, self.queue_cycle, self.id, self.clock,
                               on_next_due=self._delayed_due_at, prefetch=self.prefetch)
        self.waiter = WakeUpWait(self.queue_model.database, [*self.fetcher.wakeup_keys(), self.wakeup_key],
                                 self.timeout)
        self.recorder = Recorder(self.queue_model, self.id, self.clock, self._stopping_now, self.log)
        self.executor = EXECUTORS[self.execution_mode](self._run_attempt, self.timeout_grace)
        self._retry_policies: dict[Any, RetryPolicy] = {}
        self.presence = registry.Presence(
            lambda: self.queue_model.database, self.id, self.queues, self.execution_mode,
            self.heartbeat_interval, self.clock)

    def _configure(self, kwargs: dict[str, Any]) -> None:
        """Set the parameters given, then clean and check every option."""
        unknown = set(kwargs) - set(self.parameters)
        if unknown:
            raise ConfigurationException(f"Unknown worker parameter(s): {', '.join(sorted(unknown))}")
        for name, value in kwargs.items():
            setattr(self, name, value)
        for setting in SETTINGS:
            setattr(self, setting.name, clean(setting, getattr(self, setting.name)))
        check(self)
        if self.callback is None:
            self.callback = self.execute
        if self.clock is None:
            self.clock = self.queue_model.clock

    def _maintenance_table(self) -> Maintenance:
        """The periodic tasks and their intervals (None: never; 0: at every pass)."""
        table = Maintenance(self.clock)
        table.add("update_keys", self.fetch_priorities_delay, self.update_keys)
        table.add("requeue_delayed", self.fetch_delayed_delay, self.requeue_delayed_jobs)
        table.add("recover", self.recovery_delay or None, self.recover_lost_jobs, wakes=False)
        table.add("purge", self.purge_delay or None, self.purge_finished_jobs, wakes=False)
        table.add("control", CONTROL_CHECK_DELAY, self.check_control, wakes=False)
        return table

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} queues={','.join(self.queues)}>"

    # --- setup and signals

    @property
    def terminate_gracefully(self) -> bool:
        """Spelling alias of the ``terminate_gracefuly`` parameter."""
        return self.terminate_gracefuly

    def set_logger(self) -> None:
        """Create ``self.logger`` from ``logger_name`` and ``logger_level``."""
        self.logger = logging.getLogger(self.logger_name)
        self.logger.setLevel(self.logger_level)

    def handle_end_signal(self) -> None:
        """Route SIGINT, SIGTERM and SIGHUP to ``catch_end_signal``, SIGQUIT to
        ``catch_stop_now_signal``."""
        handlers = {signal.SIGINT: self.catch_end_signal, signal.SIGTERM: self.catch_end_signal,
                    signal.SIGHUP: self.catch_end_signal, signal.SIGQUIT: self.catch_stop_now_signal}
        for signum, handler in handlers.items():
            try:
                self._signal_handlers[signum] = signal.signal(signum, handler)
            except ValueError:  # not the main thread: signals cannot be caught here
                self.log("cannot catch signals outside the main thread", level="debug")
                return

    def stop_handling_end_signal(self) -> None:
        """Give the stop signals back to the handlers they had before."""
        for signum, handler in self._signal_handlers.items():
            try:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
            except ValueError:
                pass
        self._signal_handlers = {}

    def catch_end_signal(self, signum: int, frame: Any) -> None:
        """Stop once the current job is done (again: the job still finishes; SIGQUIT stops now)."""
        self.signals_caught += 1
        if self.end_signal_caught:
            self.log(f"signal {signum} caught again: stopping after the current job (SIGQUIT stops now)")
            return
        self.end_signal_caught = self.end_forced = True
        self._stopping.set()
        self.waiter.cut()
        self.log(f"signal {signum} caught, stopping after the current job")

    def catch_stop_now_signal(self, signum: int, frame: Any) -> None:
        """Stop now: interrupt the running job and put it back at the front of its queue."""
        self.signals_caught += 1
        self.end_signal_caught = self.end_forced = True
        self._stopping.set()
        self.waiter.cut()
        if self._stopping_now.is_set():
            return
        self._stopping_now.set()
        self.log(f"signal {signum} caught, stopping now", level="warning")
        self.executor.interrupt()  # in-process, this raises in the running job

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
        return (self.end_date or self.utcnow()) - self.start_date

    def utcnow(self) -> datetime:
        """Now, from the worker's clock, naive in UTC as ``datetime.utcnow()``: the form of
        ``start_date``, ``end_date`` and ``wanted_end_date``."""
        return naive_utc(self.clock.now())

    def log(self, message: str, level: str = "info", **fields: Any) -> None:
        """Log ``message`` at ``level``, prefixed by the worker's id; ``fields`` (and ``worker_id``)
        go on the log record, for structured logs."""
        getattr(self.logger, level)("[%s] %s", self.id, message, extra={"worker_id": self.id, **fields})

    def log_job(self, message: str, job: Job, queue: Queue, level: str = "info", **fields: Any) -> None:
        """``log`` a line about a job, with its queue, identifier, ident, attempt and duration as fields."""
        attempt = self._attempt_of(job, queue)
        took = (self.clock.now() - attempt.taken_at).total_seconds()
        self.log(message, level, queue=attempt.queue_name, identifier=attempt.identifier, ident=attempt.ident,
                 attempt=attempt.tries, duration=round(took, 6), **fields)

    def set_status(self, status: str) -> None:
        """Set the worker's status, and the process title if wanted."""
        self.status = status
        self.update_proc_title()

    def update_proc_title(self) -> None:
        """Show status, queues, loops and counts in the process title (if ``update_title``)."""
        if self.update_title:
            from setproctitle import setproctitle

            setproctitle(self.proc_title())

    def proc_title(self) -> str:
        """``limpyd-jobs-worker#<id> [status] queues=a,b loop=1/1000 waiting=9 delayed=2 duration=…``."""
        title = f"{self.title_prefix}#{self.id} [{self.status or 'init'}] queues={','.join(self.queues)}"
        if self.status in (None, "init"):
            return title
        waiting, delayed = self.fetcher.counts
        title += f" loop={self.num_loops}/{self.max_loops} waiting={waiting} delayed={delayed}"
        if self.elapsed is not None and self.status != "starting":
            title += f" duration={timedelta(seconds=int(self.elapsed.total_seconds()))}"
        return title

    def count_waiting_jobs(self) -> int:
        """Jobs waiting in this worker's queues."""
        return self.queue_model.count_waiting_jobs(self.queues)

    def count_delayed_jobs(self) -> int:
        """Jobs delayed in this worker's queues."""
        return self.queue_model.count_delayed_jobs(self.queues)

    @classmethod
    def registered_workers(cls, heartbeat_timeout: float | None = None) -> list[registry.WorkerInfo]:
        """Workers known to the registry (id, host, pid, queues, running jobs, alive or not)."""
        timeout = cls.heartbeat_timeout if heartbeat_timeout is None else heartbeat_timeout
        return registry.list_workers(cls.queue_model.get_connection(), timeout, cls.queue_model.clock)

    # --- the loop

    def must_stop(self) -> bool:
        """True when ``end_forced`` is set, a stop signal was caught (with ``terminate_gracefuly``),
        ``max_loops`` jobs were taken, or ``wanted_end_date`` is past."""
        return bool(self.end_forced or (self.terminate_gracefuly and self.end_signal_caught)
                    or (self.max_loops and self.num_loops >= self.max_loops)
                    or (self.wanted_end_date and self.utcnow() >= naive_utc(self.wanted_end_date)))

    def run(self) -> None:
        """Run jobs until ``must_stop`` says so; a worker runs only once."""
        if self.status is not None:
            raise LimpydJobsException("This worker has already run: create a new one")
        self.status = "starting"
        self.start_date = self.utcnow()
        if self.max_duration:
            self.wanted_end_date = self.start_date + timedelta(seconds=self.max_duration)
        self._compose()
        self.fetcher.want_counts = self.update_title
        try:
            if self._ride_out(self._begin) and self._ride_out(self._await_queues):
                self.run_started()
                self.notify("on_start", self)
                self._ride_out(self._loop)
        finally:
            self._stop()

    def _begin(self) -> bool:
        """Register the Job models, read the queues, show the counts, register the worker. True once done."""
        Job.register_models()
        self.update_keys()
        if self.update_title:
            self.fetcher.counts = (self.count_waiting_jobs(), self.count_delayed_jobs())
        self.set_status("starting")
        self.start_beating()
        if self.metrics_port is not None and self._metrics_server is None:
            from ..metrics import serve  # prometheus_client: only for those who want metrics

            self._metrics_server = serve(self.metrics_port, queue_model=self.queue_model, names=self.queues,
                                         heartbeat_timeout=self.heartbeat_timeout)
        if not self.keys:
            self.log(f"no queue {','.join(self.queues)} yet: waiting for one", level="warning")
        return True

    def _await_queues(self) -> bool:
        """Stay ``starting`` until one of the worker's queues exists (a job added to one wakes the
        worker up; others are seen every ``fetch_priorities_delay``). True once one does."""
        while not self.keys and not self.must_stop() and not self.burst:
            self._wait_for_wakeup()
            if not self.must_stop():
                self.update_keys()
        return bool(self.keys) or self.burst

    def _loop(self) -> bool:
        """Call ``run_one`` until told to stop. True once stopped."""
        while not self.must_stop():
            self.run_one()
        return True

    def _ride_out(self, step: Callable[[], bool]) -> bool:
        """Call ``step`` until it returns True, riding out Redis outages (waiting for Redis to
        answer between two calls); False if the worker must stop first."""
        outage: Outage | None = None
        while not self.must_stop():
            try:
                if step():
                    return True
            except RedisError as exc:
                if not is_outage(exc):
                    raise
                outage = outage or Outage(exc, "", self.connection.ping, self._stopping, self.log)
                outage.wait(exc)
        return False

    def _stop(self) -> None:
        """End a run: write the successes not written yet, give back what was taken and not run,
        stop the parts, leave the registry."""
        try:
            self.record_successes()
        except RedisError as exc:  # they stay in the running set: recovery gives them back
            self.log(f"could not record the ends of jobs ({exc}): they will run again", level="warning")
        self.give_back_unstarted()
        if self.fetcher.take_lost:
            try:
                self.reconcile()
            except RedisError as exc:  # what stays in the running set is recovered
                self.log(f"could not look for lost takes ({exc})", level="warning")
        self.executor.close()
        self.stop_beating()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        self.end_date = self.utcnow()
        self.set_status("terminated")
        self.run_ended()
        self.notify("on_stop", self)
        self.stop_handling_end_signal()

    def run_one(self) -> bool:
        """One pass of the loop: maintenance, then wait for a job and run it. True if one was taken."""
        self.maintain()
        if self.must_stop():  # a HALT, or a signal, seen during the maintenance
            return False
        if self.fetcher.take_lost:
            self.reconcile()
        self.notify("before_fetch", self)
        queue, job = self.wait_for_job() or (None, None)
        attempt = self._attempt_of(job, queue) if job is not None else None
        self.notify("after_fetch", self, attempt)
        if attempt is None:
            return False
        self.num_loops += 1
        try:
            if attempt.runs:
                self._after_execution(job, queue, attempt, self.executor.execute(attempt))
            else:
                self.handle_job(job, queue)
        finally:
            if attempt.ident not in self._unrecorded:  # a success to write: held until written
                self.attempts.pop(attempt.ident, None)
        return True

    def _after_execution(self, job: Job, queue: Queue, attempt: Attempt, outcome: Outcome) -> None:
        """Record what the executor saw when the job did not end by itself."""
        if outcome.kind == TIMEOUT:
            error: Exception = JobTimeout(f"job ran for more than {attempt.timeout}s, killed")
            self._guard(job, self.job_error, job, queue, error)
        elif outcome.kind == DIED:
            error = JobProcessDied(f"the job's process died ({outcome.detail})")
            self._guard(job, self.job_error, job, queue, error)
        elif outcome.kind == INTERRUPTED:
            self.give_back(job, queue)

    def maintain(self) -> None:
        """Run the periodic tasks that are due (see ``maintenance``)."""
        self.maintenance.run_due()

    def reconcile(self) -> None:
        """Give back the jobs of this worker's running set it does not know it holds: a take
        (or a take along with an end) failed, and may have run without its reply arriving."""
        now_str, now_score = stored(self.clock.now())
        given_back = reconcile.call(self.queue_model.database, worker=self.id, now_str=now_str,
                                    now_score=now_score, known=[*self.attempts, *self.fetcher.kept_idents()])
        self.fetcher.take_lost = False
        for ident in given_back:
            self.log(f"job {ident} was taken, the reply lost: given back to its queue", level="warning")

    def update_keys(self) -> None:
        """Read the waiting keys of this worker's queues, highest priority first (but paused ones)."""
        self.keys = self._unpaused(self.fetcher.refresh())
        self.maintenance.done("update_keys")

    def _unpaused(self, keys: list[str]) -> list[str]:
        """The waiting keys of queues not paused."""
        if not self.paused:
            return keys
        return [key for key in keys
                if (info := self.fetcher.info(key)) is None or info.name not in self.paused]

    def requeue_delayed_jobs(self) -> None:
        """Move the due delayed jobs of this worker's queues to their waiting lists."""
        names = {info.pk: info.name for info in self.fetcher.queues}
        if names:
            moved = requeue_delayed.call(self.queue_model.database, queue_model=self.queue_model._name,
                                         now_score=self.clock.time(), queues=names)
            for ident, reason in moved.failures:
                self.log(f"could not requeue delayed job {ident}: {reason}", level="warning")
            self._delayed_due_at(moved.next_due)

    def _delayed_due_at(self, at: float | None) -> None:
        """The first delayed job of the queues is due at ``at`` (a clock timestamp): move it then."""
        self.maintenance.want("requeue_delayed", at)

    def recover_lost_jobs(self) -> None:
        """Give back the jobs of workers that stopped beating (one worker at a time does it)."""
        registry.recover(self.queue_model.database, self.id, self.heartbeat_timeout, self.lost_job_max_tries,
                         lock_seconds=self.recovery_delay, error_model=self.error_model, clock=self.clock)

    def purge_finished_jobs(self) -> None:
        """Delete finished jobs beyond ``keep_finished`` per queue or older than ``finished_ttl``."""
        if self.keep_finished is None and self.finished_ttl is None:
            return
        deleted = sum(info.queue.purge_finished(self.keep_finished, self.finished_ttl,
                                                error_model=self.error_model)
                      for info in self.fetcher.queues)
        if deleted:
            self.log(f"{deleted} finished job(s) deleted", level="debug")

    def check_control(self) -> None:
        """Read the orders of operators, in one round trip: stop after the current job when the
        control key says HALT or this worker is asked to stop; take from no paused queue."""
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.get(KEYS.control()).get(KEYS.worker_control(worker=self.id)).smembers(KEYS.paused())
            control, own, paused = pipe.execute()
        if control == "HALT":
            self.log("control says HALT: stopping")
            self.end_forced = True
        if own == stop_workers.STOP:
            self.log("asked to stop: stopping")
            self.end_forced = True
        self.pause(set(paused or ()))

    def pause(self, names: set[str]) -> None:
        """Take no job from the queues of these names (the others go on), until they are resumed."""
        if names == self.paused:
            return
        for name in sorted(set(self.queues) & (names ^ self.paused)):
            self.log(f"queue {name} {'paused' if name in names else 'resumed'}")
        self.paused = names
        self.keys = self._unpaused(self.fetcher.keys())
        self._idle_since = None  # look again, at once

    def start_beating(self) -> None:
        """Register this worker and start its heartbeat thread."""
        self.presence.start()

    def stop_beating(self) -> None:
        """Stop the heartbeat; leave the registry (unless jobs are left, to be recovered)."""
        try:
            if not self.presence.stop():
                self.log("jobs left unfinished: they will be recovered by another worker", level="warning")
        except RedisError as exc:
            self.log(f"could not leave the registry ({exc})", level="warning")

    # --- taking a job

    def wait_for_job(self) -> tuple[Queue, Job] | None:
        """Take the next job of the highest priority, waiting up to ``timeout`` for one:
        ``(queue, job)``, or None if none came."""
        looked = self._worth_a_look()
        taken = self.fetcher.take(self.keys) if looked else None
        if taken is None and self.burst:
            self._burst_over()
        elif taken is None:
            if looked:
                self._idle_since = self.clock.time()
            self.set_status("waiting")
            if self._wait_for_wakeup():
                self._idle_since = None
                taken = self.fetcher.take(self.keys, woken=True)
                if taken is None:  # announced in a queue (a priority) not known yet
                    self.update_keys()
                    taken = self.fetcher.take(self.keys, woken=True)
        else:
            self._idle_since = None
        queue, job = self._hold(taken) if taken is not None else (None, None)
        return (queue, job) if job is not None else None

    def _worth_a_look(self) -> bool:
        """Whether to take before waiting: not when the last look found nothing and no job was
        announced since (every job that comes is), unless ``timeout`` went by (an announce may be lost)."""
        return (self._idle_since is None or self.burst or self.fetcher.holds_one
                or bool(self.timeout and self.clock.time() - self._idle_since >= self.timeout))

    def _burst_over(self) -> None:
        """In ``burst`` mode, nothing to take: stop, unless delayed jobs are due (moved at the next
        pass) or queues (priorities) appeared since the keys were read (taken from next)."""
        due = self.fetcher.next_due
        if due is not None and due <= self.clock.time():
            return
        known = self.fetcher.keys()
        self.update_keys()
        if self.fetcher.keys() != known:
            return
        self.log("queues empty: burst over")
        self.end_forced = True

    def _hold(self, taken: Taken) -> tuple[Queue | None, Job | None]:
        """Turn a take into (queue, job), and note the attempt this worker now holds."""
        queue = self.get_queue(taken.waiting_key)
        now = self.clock.now()
        if taken.outcome != TakeOutcome.MISSING:
            self._found_by_take = taken.ident
            try:
                job = self.get_job(taken.ident)
            except InvalidIdent as exc:
                self._set_aside(taken, queue, exc)
                return None, None
            finally:
                self._found_by_take = ""
            if taken.outcome == TakeOutcome.UNKNOWN:  # its model was not registered (older data)
                taken = self._start_unregistered(job, taken, now)
        if taken.outcome == TakeOutcome.MISSING:
            self.log(f"job {taken.ident} found in {taken.waiting_key} does not exist anymore: ignored",
                     level="warning")
            return None, None
        job._attempt_token = taken.attempt  # its moves through this instance check the attempt
        if taken.snapshot:
            job.take_snapshot(taken.snapshot)  # the callback reads its fields without a round trip
        info = self.fetcher.info(taken.waiting_key)
        if info is None:  # a list the worker's keys name but its queues do not (a subclass's)
            name, priority = queue.hmget("name", "priority")
            pk, name, priority = queue.pk.get(), name or "", int(priority or 0)
        else:
            pk, name, priority = info.pk, info.name, info.priority
        self.attempts[taken.ident] = Attempt(
            ident=taken.ident, identifier=taken.identifier, status=taken.status, token=taken.attempt,
            taken_at=now, timeout=self._job_timeout(taken.timeout), waiting_key=taken.waiting_key,
            queue_pk=pk, queue_name=name, queue_priority=priority, snapshot=taken.snapshot, job=job,
            queue=queue)
        return queue, job

    def _job_timeout(self, value: str) -> float | None:
        """The job's own timeout if it has a valid one, else the worker's ``job_timeout``."""
        try:
            return parse_timeout(value) or self.job_timeout
        except ValueError as exc:
            self.log(f"invalid job timeout ({exc}): using {self.job_timeout}", level="warning")
            return self.job_timeout

    def _start_unregistered(self, job: Job, taken: Taken, now: datetime) -> Taken:
        """Start a job whose model the take did not know (older data): a second round trip."""
        started = start_job.call(job.database, job_model=job._name, ident=taken.ident,
                                 now_str=datetime_to_str(now), worker=self.id)
        if started.outcome == TakeOutcome.MISSING:
            self.recorder.release(taken.ident)
        return taken._replace(outcome=started.outcome, status=started.status, attempt=started.attempt,
                              identifier=started.identifier, timeout=started.timeout, job_model=job._name)

    def _set_aside(self, taken: Taken, queue: Queue, error: InvalidIdent) -> None:
        """A job the worker cannot load: it ends in ERROR with the reason (or in its queue's errors
        list, as an ident), and the worker goes on."""
        info = self.fetcher.info(taken.waiting_key)
        self.log(f"job {taken.ident} set aside: {error}", level="error")
        self.recorder.set_aside(taken, info.pk if info else queue.pk.get())
        if self.save_errors and taken.outcome == TakeOutcome.RUN:
            self.error_model.add_error_for(info.name if info else "", taken.ident, taken.identifier, error)

    def _wait_for_wakeup(self) -> bool:
        """Block until a job is announced in one of the queues (True), or the wait ends (False);
        a token in the worker's own list wakes it up to read the control key at once."""
        seconds = self._wait_time()
        if seconds is None or not self.waiter.wait(seconds, self.must_stop):
            return False
        if self.waiter.woken_by == self.wakeup_key:
            self.check_control()
            return False
        return True

    def _wait_time(self) -> float | None:
        """Seconds to block: ``timeout``, shortened to the next maintenance (moving the first delayed
        job when it is due is one) or the end of the run (0: no limit; None: nothing to wait for)."""
        deadlines = [self.timeout or None, self.maintenance.seconds_to_next(wanted_only=self.timeout == 0)]
        if self.wanted_end_date is not None:
            deadlines.append((naive_utc(self.wanted_end_date) - self.utcnow()).total_seconds())
        known = [deadline for deadline in deadlines if deadline is not None]
        if not known:
            return 0
        wait = min(known)
        # BLPOP takes seconds with millisecond precision (rounded up: never wake before a due time);
        # below that there is nothing to wait for.
        return None if wait < 0.001 else math.ceil(wait * 1000) / 1000

    def get_job(self, job_ident: str) -> Job:
        """The job named by an ident taken from a waiting list; limpyd's DoesNotExist if there is
        none (not checked, so no round trip, for the job a take of this worker just found)."""
        return Job.get_from_ident(job_ident, lazy=job_ident == self._found_by_take)

    def get_queue(self, queue_redis_key: str) -> Queue:
        """The queue whose waiting list has this Redis key; limpyd's DoesNotExist if there is none."""
        info = self.fetcher.info(queue_redis_key)
        if info is not None:
            return info.queue
        model, _, pk = queue_redis_key.removesuffix(":waiting").rpartition(":")
        if model != self.queue_model._name:
            raise DoesNotExist(f"{queue_redis_key!r} is not a waiting list of {self.queue_model.__name__}")
        return self.queue_model(pk)

    # --- running a job, and the hooks that record its end

    def _run_attempt(self, attempt: Attempt) -> None:
        """The executor's target: run a held attempt (in a pre-forked child, rebuilt from data)."""
        if attempt.job is not None:
            self.handle_job(attempt.job, attempt.queue)
            return
        self._found_by_take = attempt.ident  # the parent's take found it
        try:
            attempt.job, attempt.queue = self.get_job(attempt.ident), self.get_queue(attempt.waiting_key)
        finally:
            self._found_by_take = ""
        if attempt.snapshot:
            attempt.job.take_snapshot(attempt.snapshot)
        attempt.job._attempt_token = attempt.token
        self.attempts[attempt.ident] = attempt
        try:
            self.handle_job(attempt.job, attempt.queue)
        finally:
            self.attempts.pop(attempt.ident, None)

    def handle_job(self, job: Job, queue: Queue) -> None:
        """Run a job just taken (or skip or delay it if it was not WAITING) and record its end."""
        attempt = self._attempt_of(job, queue)
        if not attempt.runs:
            hook = self.job_delayed if attempt.status == STATUSES.DELAYED else self.job_skipped
            self._guard(job, hook, job, queue)
            return
        self.set_status("running")
        self._guard(job, self.job_started, job, queue)
        self.notify("before_run", self, attempt)
        try:
            with self.executor.guard(attempt.timeout):
                result = (self.execute if job.runs_itself else self.callback)(job, queue)
        except Exception as exc:
            job.drop_snapshot()  # its end is written by scripts: read from Redis from now on
            self.notify("after_run", self, attempt, exc)
            trace = traceback_module.format_exc() if self.save_tracebacks else None
            self._guard(job, self.job_error, job, queue, exc, trace)
        else:
            job.drop_snapshot()
            self.notify("after_run", self, attempt, None)
            self._end_success(job, queue, attempt, result)

    def _attempt_of(self, job: Job, queue: Queue) -> Attempt:
        """The attempt this worker holds for ``job``; for a job it did not take, one without a
        token (its end is then written without checking whose attempt it is)."""
        attempt = self.attempts.get(job.ident)
        if attempt is None:
            name, priority = queue.hmget("name", "priority")
            attempt = Attempt(
                ident=job.ident, identifier=job.identifier.hget() or "", status=STATUSES.WAITING, token="",
                taken_at=self.clock.now(), timeout=None, waiting_key=queue.waiting.key,
                queue_pk=queue.pk.get(), queue_name=name or "", queue_priority=int(priority or 0), job=job,
                queue=queue)
        return attempt

    def _end_success(self, job: Job, queue: Queue, attempt: Attempt, result: Any) -> None:
        """Mark the job SUCCESS (taking the next job along when it can), unless it was canceled
        or delayed while running; with ``prefetch``, write the successes of the jobs taken
        together in one round trip, with the next take."""
        if self.prefetch > 1 and self.executor.shares_worker_process:
            self._unrecorded[attempt.ident] = (job, queue, attempt, result, self.clock.now())
            if not self.fetcher.holds_one or self.must_stop():
                self.record_successes()
            return
        then = self.fetcher.request(self.keys) if self._may_take_next() else None
        self.notify("before_record", self, attempt, "success")
        previous, taken, take_lost = self.recorder.success(job, attempt, then)
        if taken is not None:
            self.fetcher.keep(taken)
        self.fetcher.take_lost |= take_lost
        if previous == STATUSES.RUNNING:
            self.notify("after_record", self, attempt, "success")
            self._guard(job, self.job_success, job, queue, result)
        else:
            self._changed_while_running(job, queue, previous)

    def record_successes(self) -> None:
        """Write the successes not written yet, in one round trip (taking the next jobs along when
        it can), then call their hooks."""
        if not self._unrecorded:
            return
        ended = list(self._unrecorded.values())
        then = self.fetcher.request(self.keys) if self._may_take_next() else None
        for _, _, attempt, _, _ in ended:
            self.notify("before_record", self, attempt, "success")
        self._unrecorded = {}
        try:
            previous, taken, take_lost = self.recorder.successes(
                [(job, attempt, end) for job, _, attempt, _, end in ended], then, self.prefetch)
        except BaseException:  # not written: forgotten, so that a reconciliation gives them back
            for _, _, attempt, _, _ in ended:
                self.attempts.pop(attempt.ident, None)
            self.fetcher.take_lost = True
            raise
        if taken:
            self.fetcher.keep(taken)
        self.fetcher.take_lost |= take_lost
        for (job, queue, attempt, result, _), found in zip(ended, previous, strict=True):
            try:
                if found == STATUSES.RUNNING:
                    self.notify("after_record", self, attempt, "success")
                    self._guard(job, self.job_success, job, queue, result)
                else:
                    self._changed_while_running(job, queue, found)
            finally:
                self.attempts.pop(attempt.ident, None)

    def _may_take_next(self) -> bool:
        """Whether to take the next job in the same round trip as this one's end."""
        return self.executor.shares_worker_process and bool(self.keys) and not self.must_stop()

    def _changed_while_running(self, job: Job, queue: Queue, found: str) -> None:
        """The job was not RUNNING any more when it ended: skip, delay, or leave it as it is."""
        if found == STATUSES.CANCELED:
            self._guard(job, self.job_skipped, job, queue)
        elif found == STATUSES.DELAYED:
            self._guard(job, self.job_delayed, job, queue)
        elif found == EndRefusal.STALE:
            self._stale(job, "this attempt's end is not recorded")
        else:
            self.log(f"job {job.ident} ended with status {found!r}, set while it ran: left as is",
                     level="warning")
            self.recorder.release(job.ident)

    def _guard(self, job: Job, method: Callable[..., Any], *args: Any) -> None:
        """Call a hook; log what it raises (with the job's ident) instead of crashing."""
        try:
            method(*args)
        except Exception:
            self.logger.exception("[%s] %s failed for job %s", self.id, method.__name__, job.ident)

    def _record(self, attempt: Attempt, ending: str, write: Callable[[], Any]) -> Any:
        """Write the end of an attempt, between the observers' before_record and after_record."""
        self.notify("before_record", self, attempt, ending)
        written = write()
        self.notify("after_record", self, attempt, ending)
        return written

    def execute(self, job: Job, queue: Queue) -> Any:
        """The default callback: run the job's ``run`` method."""
        return job.run(queue)

    def give_back(self, job: Job, queue: Queue) -> None:
        """Put a job interrupted by a stop-now signal (SIGQUIT) back at the front of its queue."""
        if self._give_back(job, queue, patient=True):
            self.log(f"job {job.ident} interrupted and put back at the front of its queue", level="warning")

    def _give_back(self, job: Job, queue: Queue, patient: bool) -> bool:
        attempt = self._attempt_of(job, queue)
        if self._record(attempt, "given_back", lambda: self.recorder.give_back(job, attempt, patient)):
            return True
        self._stale(job, "not given back")
        return False

    def _stale(self, job: Job, what: str) -> None:
        """Log that a write of this worker's attempt was refused: a newer attempt holds the job, or
        it was canceled meanwhile."""
        if job.status.hget() == STATUSES.CANCELED:
            self.log(f"job {job.ident} was canceled meanwhile: {what}", level="warning")
        else:
            self.log(f"job {job.ident} was recovered and taken again meanwhile: {what}", level="warning")

    def give_back_unstarted(self) -> None:
        """Put back the jobs taken ahead and not run yet (at the end of a run), at the front of
        their queues in their order, as if never taken (one round trip)."""
        kept = self.fetcher.release_kept()
        untouched = [taken.ident for taken in kept if taken.outcome == TakeOutcome.RUN]
        try:
            if untouched:
                now_str, now_score = stored(self.clock.now())
                untake.call(self.queue_model.database, worker=self.id, now_str=now_str, now_score=now_score,
                            idents=untouched)
        except RedisError as exc:  # they stay in the running set: recovery gives them back
            self.log(f"could not give back {', '.join(untouched)} ({exc}): recovery will", level="warning")
        for taken in kept:
            if taken.outcome != TakeOutcome.RUN:  # skipped or delayed: nothing of its own runs
                queue, job = self._hold(taken)
                if job is not None:
                    try:
                        self.handle_job(job, queue)
                    except RedisError as exc:
                        self.log(f"could not end {job.ident} ({exc}): it will be recovered", level="warning")
                    finally:
                        self.attempts.pop(job.ident, None)

    def _label(self, job: Job, queue: Queue) -> str:
        """``[queue|identifier]`` for log lines, without a round trip for a held job."""
        attempt = self._attempt_of(job, queue)
        return f"[{attempt.queue_name}|{attempt.identifier}]"

    def job_started(self, job: Job, queue: Queue) -> None:
        """The job is RUNNING (set when taken): log it and call its ``on_started``."""
        if self.logger.isEnabledFor(logging.INFO):  # messages cost: build them only when logged
            self.log_job(self.job_started_message(job, queue), job, queue)
        job.on_started(queue)

    def job_started_message(self, job: Job, queue: Queue) -> str:
        """The line ``job_started`` logs."""
        return f"{self._label(job, queue)} starting"

    def job_success(self, job: Job, queue: Queue, job_result: Any) -> None:
        """The job is SUCCESS, unqueued and in the success list (written just before): log, ``on_success``."""
        if self.logger.isEnabledFor(logging.INFO):
            self.log_job(self.job_success_message(job, queue, job_result), job, queue)
        job.on_success(queue, job_result)

    def job_success_message(self, job: Job, queue: Queue, job_result: Any) -> str:
        """The line ``job_success`` logs."""
        took = self.clock.now() - self._attempt_of(job, queue).taken_at
        return f"{self._label(job, queue)} success, in {took}"

    def job_error(self, job: Job, queue: Queue, exception: BaseException, trace: str | None = None) -> None:
        """Mark the job ERROR, save the error, log, call ``on_error``, then requeue it if allowed."""
        attempt = self._attempt_of(job, queue)
        decide = lambda: self._must_requeue(job, exception)  # noqa: E731  (read again if Redis fails)
        detail = f"{type(exception).__name__}: {exception}"[:HISTORY_DETAIL_MAX]
        found, requeue = self._record(attempt, "error",
                                      lambda: self.recorder.error(job, attempt, decide, detail))
        if found != STATUSES.RUNNING:
            self._changed_while_running(job, queue, found)
            return
        try:
            if self.save_errors:
                fields = self.additional_error_fields(job, queue, exception, trace)
                self.error_model.add_error(attempt.queue_name, job, exception, trace=trace, **fields)
            self.log_job(self.job_error_message(job, queue, exception, trace), job, queue, level="error")
            self._guard(job, job.on_error, queue, exception, trace)
        finally:  # whatever failed above, a job to requeue is requeued
            if requeue:
                self._requeue_after_error(job, queue, attempt)

    def retry_policy(self, job: Job) -> RetryPolicy:
        """The retry settings for ``job``: the worker's, overridden by its Job class's (a task's own)."""
        source = job.retry_settings()
        policy = self._retry_policies.get(source)
        if policy is None:
            policy = self._retry_policies[source] = RetryPolicy.of(self, source)
        return policy

    def _must_requeue(self, job: Job, error: BaseException | None = None) -> bool:
        """Whether a failed job goes back to its queue (read again if Redis fails meanwhile)."""
        try:
            tries = parse_count(job.tries.hget())
        except ValueError as exc:
            self.log(f"job {job.ident} has a malformed tries field ({exc}): not requeued", level="error")
            return False
        return not job.must_be_cancelled_on_error and self.retry_policy(job).retries(tries, error)

    def _requeue_after_error(self, job: Job, queue: Queue, attempt: Attempt) -> None:
        """Requeue a failed job (through the overridable ``requeue_job``), then release it; if that
        fails, it stays held, and the worker's reconciliation gives it back."""
        policy = self.retry_policy(job)
        tries = attempt.tries or parse_count(job.tries.hget() or 0)
        priority, delay = policy.priority(attempt.queue_priority), policy.delay(tries)
        try:
            self.recorder.retrying(lambda: self.requeue_job(job, queue, priority, delayed_for=delay),
                                   f"to requeue {job.ident}")
        except BaseException:
            self.fetcher.take_lost = True
            raise
        self.recorder.release(job.ident)

    def job_error_message(self, job: Job, queue: Queue, to_be_requeued_exception: BaseException,
                          trace: str | None = None) -> str:
        """The line ``job_error`` logs."""
        exc = to_be_requeued_exception
        return f"{self._label(job, queue)} error: {type(exc).__name__}: {exc}"

    def additional_error_fields(self, job: Job, queue: Queue, exception: BaseException,
                                trace: str | None = None) -> dict[str, Any]:
        """Extra fields for the Error object (for ``error_model`` subclasses); none by default."""
        return {}

    def requeue_job(self, job: Job, queue: Queue, priority: int, delayed_for: float | None = None) -> None:
        """Put a failed job back in its queue at ``priority``, after ``delayed_for`` seconds."""
        if not job.requeue(queue_name=self._attempt_of(job, queue).queue_name, priority=priority,
                           delayed_for=delayed_for or None, queue_model=self.queue_model):
            self._stale(job, "not requeued")
            return
        self.log_job(self.job_requeue_message(job, queue), job, queue)
        job.on_requeued(queue)

    def job_requeue_message(self, job: Job, queue: Queue) -> str:
        """The line logged when a failed job is requeued."""
        return f"{self._label(job, queue)} requeued (priority {job.priority.hget()})"

    def job_skipped(self, job: Job, queue: Queue) -> None:
        """The job was not run (not WAITING) or canceled while running: unqueue it, ``on_skipped``."""
        attempt = self._attempt_of(job, queue)
        if self._record(attempt, "skipped", lambda: self.recorder.skip(job, attempt)) == EndRefusal.STALE:
            self._stale(job, "not skipped")
            return
        self.log_job(self.job_skipped_message(job, queue), job, queue, level="warning")
        job.on_skipped(queue)

    def job_skipped_message(self, job: Job, queue: Queue) -> str:
        """The line ``job_skipped`` logs."""
        status = STATUSES.by_value(job.status.hget(), "UNKNOWN")
        return f"{self._label(job, queue)} job skipped (current status: {status})"

    def job_delayed(self, job: Job, queue: Queue) -> None:
        """The job's status is DELAYED: put it in the delayed set (60s if no valid date), ``on_delayed``."""
        attempt = self._attempt_of(job, queue)
        until = (str_to_datetime(job.delayed_until.hget())
                 or self.clock.now() + timedelta(seconds=DEFAULT_DELAY))
        if not self._record(attempt, "delayed", lambda: self.recorder.delay(job, attempt, until)):
            self._stale(job, "not delayed")
            return
        self.log_job(self.job_delayed_message(job, queue), job, queue, level="warning")
        job.on_delayed(queue)

    def job_delayed_message(self, job: Job, queue: Queue) -> str:
        """The line ``job_delayed`` logs."""
        return f"{self._label(job, queue)} job delayed until {job.delayed_until.hget()}"

    # --- hooks of the run

    def run_started(self) -> None:
        """Called once the keys are known, just before the loop: logs the banner."""
        self.log(self.banner())

    def banner(self) -> str:
        """The line saying what runs: version, Redis (never its password), queues, mode, key options."""
        limits = (("max_loops", self.max_loops), ("max_duration", self.max_duration),
                  ("job_timeout", self.job_timeout))
        options = [f"{name}={value if value else 'none'}" for name, value in limits]
        options.append(f"requeue_times={self.requeue_times}")
        if self.requeue_times:
            options.append(f"(delay {self.requeue_delay_delta}s, backoff x{self.requeue_backoff})")
        mode = self.execution_mode + (" burst" if self.burst else "")
        return (f"limpyd-jobs {__version__} worker {self.id} started on Redis "
                f"{describe(self.queue_model.database.connection_settings)}: queues={','.join(self.queues)} "
                f"mode={mode} {' '.join(options)}")

    def run_ended(self) -> None:
        """Called when the loop is over."""
        self.log(f"run ended after {self.num_loops} loop(s)")
