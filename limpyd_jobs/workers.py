"""The Worker: takes jobs from its queues, runs them, and records how each run ended.

``Worker.run()`` is a short loop of named steps, each a method a subclass may override:
``must_stop`` -> ``maintain`` (``update_keys``, ``requeue_delayed_jobs``, ``recover_lost_jobs``,
``purge_finished_jobs``) -> ``wait_for_job`` -> ``handle_job`` (``job_started``, the callback,
then ``job_success`` / ``job_error`` / ``job_skipped`` / ``job_delayed``; those are in
``outcomes.JobOutcomes``, mixed into ``Worker``).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import redis

from . import lua, registry
from .constants import LOGGER_NAME, STATUSES
from .exceptions import ConfigurationException, LimpydJobsException, WorkerInterrupted
from .execution import EXECUTORS
from .models import Error, Job, Queue
from .options import WORKER_OPTIONS, clean
from .outcomes import BACKOFF_MAX, BACKOFF_START, OUTAGE_ERRORS, JobOutcomes
from .utils import datetime_to_str, utcnow

__all__ = ["Worker", "WorkerConfig", "LOGGER_NAME"]

#: Key a ``control HALT`` sets to stop workers and dispatchers after their current task.
CONTROL_KEY = "limpyd-jobs:control"
#: Seconds between two looks at it.
CONTROL_CHECK_DELAY = 1.0


@dataclass
class CurrentJob:
    """What the worker knows of the job it took, without asking Redis again."""

    ident: str
    identifier: str
    taken_at: datetime
    attempt: str
    timeout: float | None


def _declare_options(cls: type) -> type:
    """Give the Worker one class attribute per option of the table, and ``parameters``."""
    for option in WORKER_OPTIONS:
        setattr(cls, option.name, option.default)
    cls.parameters = tuple(option.name for option in WORKER_OPTIONS)
    return cls


@_declare_options
class Worker(JobOutcomes):
    """Run the jobs of some queues. Every ``parameters`` entry can be passed or subclassed."""

    parameters: tuple[str, ...]
    #: Set the process title (``setproctitle``) at each step; the command turns it on.
    update_title = False
    #: Name shown in the process title.
    title_prefix = "limpyd-jobs-worker"

    def __init__(self, queues: Any = None, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self.parameters)
        if unknown:
            raise ConfigurationException(f"Unknown worker parameter(s): {', '.join(sorted(unknown))}")
        if queues is not None:
            kwargs["queues"] = queues
        for name, value in kwargs.items():
            setattr(self, name, value)
        self._validate_parameters()
        self._id = uuid.uuid4().hex[:8]
        self.keys: list[str] = []
        self.status: str | None = None
        self.num_loops = 0
        self.end_forced = False
        self.end_signal_caught = False
        self.signals_caught = 0
        self.start_date: datetime | None = None
        self.end_date: datetime | None = None
        self.wanted_end_date: datetime | None = None
        self.last_update_keys: datetime | None = None
        self.last_requeue_delayed: datetime | None = None
        self.last_recovery: datetime | None = None
        self.last_purge: datetime | None = None
        self.last_control_check: datetime | None = None
        self.current: CurrentJob | None = None
        self._taken_next: tuple[tuple[Queue | None, Job | None], CurrentJob | None] | None = None
        self._queues_by_key: dict[str, Queue] = {}
        self._queue_info: dict[str, tuple[str, int]] = {}  # queue pk -> (name, priority)
        self._delayed_keys: list[str] = []
        self._queue_names_by_key: dict[str, str] = {}
        self._cycle_turn = 0
        self._counts = (0, 0)
        self._waiting_on: Any = None  # the connection blocked waiting for a job, if any
        self._running_job = False
        self._blocking: tuple[dict, Any] | None = None
        self._signal_handlers: dict[int, Any] = {}
        self._stop_event = threading.Event()  # set by the first stop signal: ends waits
        self._now_event = threading.Event()  # set by the second one: ends retries too
        self._heartbeat: registry.Heartbeat | None = None
        self.executor = EXECUTORS[self.execution_mode](self)
        self.set_logger()
        if self.terminate_gracefuly:
            self.handle_end_signal()

    # --- setup

    def _validate_parameters(self) -> None:
        """Check and normalize every parameter, raising ConfigurationException on a bad one."""
        for option in WORKER_OPTIONS:
            value = getattr(self, option.name)
            if option.name in ("callback", "queue_model", "error_model") and not isinstance(value, str):
                continue
            setattr(self, option.name, clean(option, value))
        if not self.queues:
            raise ConfigurationException("A worker needs queues: pass queues='name' or queues=['a', 'b']")
        unknown = set(self.queue_cycle or ()) - set(self.queues)
        if unknown:
            raise ConfigurationException(
                f"queue_cycle names {', '.join(sorted(unknown))}, not in queues {','.join(self.queues)}"
            )
        if self.callback is None:
            self.callback = self.execute
        if not callable(self.callback):
            raise ConfigurationException(f"callback must be callable, not {self.callback!r}")
        for name, base in (("queue_model", Queue), ("error_model", Error)):
            model = getattr(self, name)
            if not (isinstance(model, type) and issubclass(model, base)):
                raise ConfigurationException(f"{name} must be {base.__name__} or a subclass, not {model!r}")

    @property
    def terminate_gracefully(self) -> bool:
        """Spelling alias of the ``terminate_gracefuly`` parameter."""
        return self.terminate_gracefuly

    def set_logger(self) -> None:
        """Create ``self.logger`` from ``logger_name`` and ``logger_level``."""
        self.logger = logging.getLogger(self.logger_name)
        self.logger.setLevel(self.logger_level)

    def handle_end_signal(self) -> None:
        """Route SIGINT and SIGTERM to ``catch_end_signal``."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._signal_handlers[signum] = signal.signal(signum, self.catch_end_signal)
            except ValueError:  # not the main thread: signals cannot be caught here
                self.log("cannot catch signals outside the main thread", level="debug")
                return

    def stop_handling_end_signal(self) -> None:
        """Give SIGINT and SIGTERM back to the handlers they had before."""
        for signum, handler in self._signal_handlers.items():
            try:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
            except ValueError:
                pass
        self._signal_handlers = {}

    def forget_signal_handlers(self) -> None:
        """In a forked child: the parent handles the signals."""
        self._signal_handlers = {}

    def catch_end_signal(self, signum: int, frame: Any) -> None:
        """First signal: stop once the current job is done. Second: stop now, give the job back."""
        self.signals_caught += 1
        self.end_signal_caught = self.end_forced = True
        self._stop_event.set()
        if self.signals_caught > 1:
            self._now_event.set()
        if self.signals_caught == 1:
            self.log(f"signal {signum} caught, stopping after the current job")
        else:
            self.log(f"signal {signum} caught again, stopping now", level="warning")
            self.executor.interrupt()
            if self._running_job and self.executor.mode == "inprocess":
                raise WorkerInterrupted()
        if self._waiting_on is not None:  # unblock the wait: its read fails and the loop goes on
            with contextlib.suppress(AttributeError, OSError):
                self._waiting_on._sock.shutdown(socket.SHUT_RDWR)

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
    def blocking_connection(self) -> Any:
        """The connection kept for the blocking wait; its socket timeout outlasts ``timeout``."""
        settings = dict(self.queue_model.database.connection_settings)
        settings["socket_timeout"] = self.timeout + 10 if self.timeout else None
        if self._blocking is None or self._blocking[0] != settings:
            client = redis.Redis(decode_responses=True, **settings)
            self._blocking = (settings, client.connection_pool.get_connection())
        return self._blocking[1]

    @property
    def running_key(self) -> str:
        """Redis sorted set of the jobs this worker has taken and not finished."""
        return registry.RUNNING_KEY.format(id=self.id)

    @property
    def elapsed(self) -> timedelta | None:
        """Time since ``run`` started (until it ended), or None before it runs."""
        if self.start_date is None:
            return None
        return (self.end_date or utcnow()) - self.start_date

    def log(self, message: str, level: str = "info") -> None:
        """Log ``message`` at ``level``, prefixed by the worker's id."""
        getattr(self.logger, level)("[%s] %s", self.id, message)

    def set_status(self, status: str) -> None:
        """Set the worker's status, and the process title if wanted."""
        self.status = status
        self.update_proc_title()

    def update_proc_title(self) -> None:
        """Show status, queues, loops and counts in the process title (if ``update_title``)."""
        if not self.update_title:
            return
        from setproctitle import setproctitle

        setproctitle(self.proc_title())

    def proc_title(self) -> str:
        """``limpyd-jobs-worker#<id> [status] queues=a,b loop=1/1000 waiting=9 delayed=2 duration=…``."""
        title = f"{self.title_prefix}#{self.id} [{self.status or 'init'}] queues={','.join(self.queues)}"
        if self.status in (None, "init"):
            return title
        waiting, delayed = self._counts
        title += f" loop={self.num_loops}/{self.max_loops} waiting={waiting} delayed={delayed}"
        elapsed = self.elapsed
        if elapsed is not None and self.status != "starting":
            title += f" duration={timedelta(seconds=int(elapsed.total_seconds()))}"
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
        return registry.list_workers(cls.queue_model.get_connection(), timeout)

    # --- the loop

    def must_stop(self) -> bool:
        """True when a signal was caught, ``end_forced`` is set, or a limit is reached."""
        if self.end_forced or self.end_signal_caught:
            return True
        if self.max_loops and self.num_loops >= self.max_loops:
            return True
        return self.wanted_end_date is not None and utcnow() >= self.wanted_end_date

    def run(self) -> None:
        """Run jobs until ``must_stop`` says so; a worker runs only once."""
        if self.status is not None:
            raise LimpydJobsException("This worker has already run: create a new one")
        self.status = "starting"
        self.start_date = utcnow()
        if self.max_duration:
            self.wanted_end_date = self.start_date + timedelta(seconds=self.max_duration)
        try:
            self.update_keys()
            if self.update_title:
                self._counts = (self.count_waiting_jobs(), self.count_delayed_jobs())
            self.set_status("starting")
            self.start_beating()
            self.run_started()
            self._loop()
        finally:
            self._give_back_taken_next()
            self.executor.close()
            self.stop_beating()
            self.end_date = utcnow()
            self.set_status("terminated")
            self.run_ended()
            self.stop_handling_end_signal()

    def _loop(self) -> None:
        """Call ``run_one`` until told to stop, riding out Redis outages."""
        backoff = BACKOFF_START
        while not self.must_stop():
            try:
                self.run_one()
                backoff = BACKOFF_START
            except OUTAGE_ERRORS as exc:
                self.log(f"Redis unavailable ({exc}): retrying in {backoff:.1f}s", level="warning")
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    def run_one(self) -> bool:
        """One pass of the loop: maintenance, then wait for a job and run it. True if one ran."""
        self.maintain()
        queue, job = self.wait_for_job()
        if job is None:
            return False
        self.num_loops += 1
        if job.fetched_status != STATUSES.WAITING:
            self.handle_job(job, queue)
            return True
        try:
            self.executor.execute(job, queue, self.current.timeout if self.current else None)
        except WorkerInterrupted:
            self.give_back(job, queue)
        return True

    def maintain(self) -> None:
        """Refresh queue keys, move due delayed jobs, recover lost jobs: each at its interval."""
        now = utcnow()
        if self._is_due(now, self.last_update_keys, self.fetch_priorities_delay):
            self.update_keys()
        if self._is_due(now, self.last_requeue_delayed, self.fetch_delayed_delay):
            self.requeue_delayed_jobs()
        if self.recovery_delay and self._is_due(now, self.last_recovery, self.recovery_delay):
            self.recover_lost_jobs()
        if self.purge_delay and self._is_due(now, self.last_purge, self.purge_delay):
            self.purge_finished_jobs()
        if self._is_due(now, self.last_control_check, CONTROL_CHECK_DELAY):
            self.check_control()

    @staticmethod
    def _is_due(now: datetime, last: datetime | None, delay: float) -> bool:
        return last is None or (now - last).total_seconds() >= delay

    def update_keys(self) -> None:
        """Read the waiting keys of this worker's queues, highest priority first."""
        queues = self.queue_model.get_all_by_priority(self.queues)
        self._queues_by_key = {queue.waiting.key: queue for queue in queues}
        self._queue_info = {}
        for queue in queues:
            name, priority = queue.hmget("name", "priority")
            self._queue_info[queue.pk.get()] = (name or "", int(priority or 0))
        self.keys = list(self._queues_by_key)
        self._queue_names_by_key = {
            queue.waiting.key: self._queue_info[queue.pk.get()][0] for queue in queues
        }
        self._delayed_keys = [queue.delayed.key for queue in queues]
        self.last_update_keys = utcnow()

    def requeue_delayed_jobs(self) -> None:
        """Move the due delayed jobs of this worker's queues to their waiting lists."""
        names = {pk: name for pk, (name, _) in self._queue_info.items()}
        if names:
            for ident, reason in self.queue_model.requeue_delayed_jobs_of(names):
                self.log(f"could not requeue delayed job {ident}: {reason}", level="warning")
        self.last_requeue_delayed = utcnow()

    def recover_lost_jobs(self) -> None:
        """Give back the jobs of workers that stopped beating (one worker at a time does it)."""
        self.last_recovery = utcnow()
        registry.recover(self.queue_model.database, self.id, self.heartbeat_timeout, self.lost_job_max_tries,
                         lock_seconds=self.recovery_delay, error_model=self.error_model)

    def purge_finished_jobs(self) -> None:
        """Delete finished jobs beyond ``keep_finished`` per queue or older than ``finished_ttl``."""
        self.last_purge = utcnow()
        if self.keep_finished is None and self.finished_ttl is None:
            return
        deleted = sum(
            queue.purge_finished(self.keep_finished, self.finished_ttl, error_model=self.error_model)
            for queue in self._queues_by_key.values()
        )
        if deleted:
            self.log(f"{deleted} finished job(s) deleted", level="debug")

    def check_control(self) -> None:
        """Stop after the current job when ``limpyd-jobs:control`` says HALT."""
        self.last_control_check = utcnow()
        if self.connection.get(CONTROL_KEY) == "HALT":
            self.log("control says HALT: stopping")
            self.end_forced = True

    def start_beating(self) -> None:
        """Register this worker and start its heartbeat thread."""
        ttl = self.heartbeat_timeout * 2
        registry.register(self.connection, self.id, self.queues, self.execution_mode, ttl)
        self._heartbeat = registry.Heartbeat(lambda: self.connection, self.id, self.heartbeat_interval, ttl)
        self._heartbeat.start()

    def stop_beating(self) -> None:
        """Stop the heartbeat; leave the registry (unless jobs are left, to be recovered)."""
        if self._heartbeat is None:
            return
        self._heartbeat.stop()
        self._heartbeat = None
        try:
            if not registry.unregister(self.connection, self.id):
                self.log("jobs left unfinished: they will be recovered by another worker", level="warning")
        except OUTAGE_ERRORS as exc:
            self.log(f"could not leave the registry ({exc})", level="warning")

    # --- taking a job

    def wait_for_job(self) -> tuple[Queue | None, Job | None]:
        """Take the next job of the highest priority, waiting up to ``timeout`` for one."""
        if self._taken_next is not None:  # taken with the end of the previous job
            (found, self.current), self._taken_next = self._taken_next, None
            return found
        found = self._fetch()
        if found == (None, None):
            self.set_status("waiting")
            if self._wait_for_wakeup():
                found = self._fetch(woken=True)
                if found == (None, None):  # announced in a queue (priority) not known yet
                    self.update_keys()
                    found = self._fetch(woken=True)
        return found

    def _fetch(self, woken: bool = False) -> tuple[Queue | None, Job | None]:
        """Run fetch_job.lua once; return (queue, job) or (None, None)."""
        if not self.keys:
            return None, None
        now = utcnow()
        return self._taken(now, lua.fetch_job(self.queue_model.database, keys=self.fetch_keys(),
                                               args=self._fetch_args(now, woken)))

    def fetch_keys(self) -> list[str]:
        """The waiting lists to take the next job from, in order: by priority, or with
        ``queue_cycle``, the lists of this turn's queue first (then the others, by priority)."""
        if not self.queue_cycle:
            return self.keys
        name = self.queue_cycle[self._cycle_turn % len(self.queue_cycle)]
        self._cycle_turn += 1
        first = [key for key in self.keys if self._queue_names_by_key.get(key) == name]
        return first + [key for key in self.keys if key not in first]

    def _fetch_args(self, now: datetime, woken: bool = False) -> list[Any]:
        return [self.id, datetime_to_str(now), now.timestamp(), int(self.update_title), int(woken),
                *self._delayed_keys]

    def _taken(self, now: datetime, values: list[Any]) -> tuple[Queue | None, Job | None]:
        """Turn what fetch_job.lua returned into (queue, job), or (None, None)."""
        outcome, ident, key, status, waiting, delayed, identifier, attempt, timeout = values
        self._counts = (waiting, delayed)
        if outcome == "empty":
            return None, None
        queue = self.get_queue(key)
        if outcome == "unknown":
            outcome, status, attempt = self._start_unregistered(ident, now)
        if outcome == "missing":
            self.log(f"job {ident} found in {key} does not exist anymore: ignored", level="warning")
            return None, None
        job = self.get_job(ident)
        self.current = CurrentJob(ident, identifier, now, attempt, self._job_timeout(timeout))
        job.fetched_status = status  # the status it had when taken; RUNNING now if it was WAITING
        return queue, job

    def _job_timeout(self, value: str) -> float | None:
        """The job's own timeout if it has a valid one, else the worker's ``job_timeout``."""
        try:
            return float(value) if value else self.job_timeout
        except ValueError:
            self.log(f"invalid job timeout {value!r}: using {self.job_timeout}", level="warning")
            return self.job_timeout

    def _start_unregistered(self, ident: str, now: datetime) -> tuple[str, str, str]:
        """Start a job whose model fetch_job.lua did not know (older data): a second round trip."""
        try:
            job = self.get_job(ident)
        except LimpydJobsException as exc:
            self.log(f"job {ident} cannot be loaded ({exc}): ignored", level="error")
            self.connection.zrem(self.running_key, ident)
            return "missing", "", ""
        args = [job._name, job.pk.get(), datetime_to_str(now), self.id]
        return tuple(lua.start_job(job.database, args=args))

    def _wait_for_wakeup(self) -> bool:
        """Block until a job is announced in one of the queues or the wait times out."""
        wait = self._wait_time()
        if wait is None:
            return False
        keys = [f"{self.queue_model._name}:wakeup:{name}" for name in self.queues]
        connection = self._waiting_on = self.blocking_connection
        try:
            if self.must_stop():
                return False
            connection.send_command("BLPOP", *keys, wait)
            return bool(connection.read_response())
        except (*OUTAGE_ERRORS, OSError):
            connection.disconnect()
            if self.must_stop():  # a stop signal cut the wait short
                return False
            raise
        finally:
            self._waiting_on = None

    def _wait_time(self) -> float | None:
        """Seconds to block: ``timeout``, shortened to the next maintenance or end of run."""
        if self.timeout == 0 and self.max_duration is None:
            return 0
        deadlines = [self.timeout] if self.timeout else []
        now = utcnow()
        for last, delay in ((self.last_update_keys, self.fetch_priorities_delay),
                            (self.last_requeue_delayed, self.fetch_delayed_delay),
                            (self.last_recovery, self.recovery_delay or None)):
            if last is not None and delay is not None:
                deadlines.append(delay - (now - last).total_seconds())
        if self.wanted_end_date is not None:
            deadlines.append((self.wanted_end_date - now).total_seconds())
        wait = min(deadlines) if deadlines else 0
        # BLPOP takes seconds with millisecond precision; below that there is nothing to wait for.
        return None if wait < 0.001 else round(wait, 3)

    def get_job(self, job_ident: str) -> Job:
        """The job named by an ident taken from a waiting list."""
        return Job.get_from_ident(job_ident, lazy=True)

    def get_queue(self, queue_redis_key: str) -> Queue:
        """The queue whose waiting list has this Redis key."""
        queue = self._queues_by_key.get(queue_redis_key)
        if queue is None:
            pk = queue_redis_key.split(":")[-2]
            queue = self.queue_model.lazy_connect(pk)
        return queue

    def queue_name(self, queue: Queue) -> str:
        """Name of one of this worker's queues (known since ``update_keys``)."""
        info = self._queue_info.get(queue.pk.get())
        return info[0] if info else queue.name.hget()

    def queue_priority(self, queue: Queue) -> int:
        """Priority of one of this worker's queues (known since ``update_keys``)."""
        info = self._queue_info.get(queue.pk.get())
        return info[1] if info else int(queue.priority.hget() or 0)

    def describe_current_job(self, job: Job, queue: Queue, timeout: float | None) -> dict[str, Any]:
        """The taken job as plain data, to hand it to a pre-forked child."""
        current = self.current
        return {"ident": job.ident, "queue": queue.waiting.key, "status": job.fetched_status,
                "identifier": current.identifier, "taken_at": current.taken_at.timestamp(),
                "attempt": current.attempt, "timeout": timeout}

    def resume_job(self, data: dict[str, Any]) -> tuple[Job, Queue, float | None]:
        """In a pre-forked child: rebuild the job handed over by ``describe_current_job``."""
        job, queue = self.get_job(data["ident"]), self.get_queue(data["queue"])
        job.fetched_status = data["status"]
        taken_at = datetime.fromtimestamp(data["taken_at"], timezone.utc)
        self.current = CurrentJob(data["ident"], data["identifier"], taken_at, data["attempt"],
                                  data["timeout"])
        return job, queue, data["timeout"]

    # --- hooks of the run (the hooks of jobs are in outcomes.JobOutcomes)

    def run_started(self) -> None:
        """Called once the keys are known, just before the loop."""
        self.log(f"run started (queues={','.join(self.queues)}, mode={self.execution_mode})")

    def run_ended(self) -> None:
        """Called when the loop is over."""
        self.log(f"run ended after {self.num_loops} loop(s)")


from .config import WorkerConfig  # noqa: E402  (WorkerConfig builds on Worker; its documented home is here)
