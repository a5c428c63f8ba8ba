"""The worker registry: who works, their heartbeats, and the recovery of jobs whose worker died.

The keys (``KEYS.workers``, ``KEYS.worker``, ``KEYS.running``) are described in
``protocol/vocabulary.py``; ``Presence`` keeps one worker's entry alive from a thread of its own.
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from .. import shards
from ..clock import SYSTEM_CLOCK, Clock, liveness_time, script_time
from ..constants import LOGGER_NAME
from ..exceptions import LimpydJobsException, WorkerLost
from ..outages import every, log_to
from ..protocol import KEYS, LostJobOutcome
from ..protocol.scripts import beat
from ..protocol.scripts import recover as recover_script
from ..protocol.scripts.recover import LostJob
from ..utils import datetime_to_str

logger = logging.getLogger(LOGGER_NAME)

__all__ = ["WorkerInfo", "LostJob", "Presence", "list_workers", "recover", "run_sweeper"]


@dataclass
class WorkerInfo:
    """What the registry knows of one worker."""

    id: str
    last_beat: float
    alive: bool
    info: dict[str, str] = field(default_factory=dict)
    running: list[str] = field(default_factory=list)


class Presence:
    """A worker's entry in the registry, kept alive by a heartbeat thread while it runs."""

    def __init__(self, database_getter: Any, worker_id: str, queues: list[str], mode: str,
                 interval: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.database_getter = database_getter
        self.worker_id = worker_id
        self.queues = queues
        self.mode = mode
        self.interval = interval
        self.clock = clock
        self.started = ""
        #: Times this worker found itself declared dead (its entry removed by a recovery).
        self.revived = 0
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        """Register the worker, then beat every ``interval`` seconds from a thread."""
        self.started = datetime_to_str(self.clock.now())
        self.beat()
        beating = contextvars.copy_context()  # the worker's shard (shards.using), for its beats
        self._thread = threading.Thread(target=beating.run, args=(self._beat_until_stopped,), daemon=True,
                                        name=f"limpyd-jobs-heartbeat-{self.worker_id}")
        self._thread.start()

    def beat(self) -> None:
        """Tell the registry the worker is alive, at Redis's time (one script: the details are
        written only when missing, so an entry a recovery removed while the worker was paused
        comes back whole: the worker was declared dead, its jobs given back, and says so)."""
        first = self._thread is None
        written = beat.call(self.database_getter(), worker=self.worker_id, now_score=script_time(self.clock),
                            fields={"host": socket.gethostname(), "pid": os.getpid(),
                                    "queues": ",".join(self.queues), "mode": self.mode,
                                    "started": self.started}).written
        if written and not first:
            self.revived += 1
            logger.warning("worker %s was declared dead (no heartbeat for too long: paused?), its jobs "
                           "given back; registered again, its late ends are refused", self.worker_id)

    def _beat_until_stopped(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.beat()
            except RedisError as exc:
                logger.warning("worker %s could not beat: %s", self.worker_id, exc)

    def stop(self) -> bool:
        """Stop beating and leave the registry; a worker still holding jobs stays (for recovery).
        True if it left."""
        self._stopped.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(self.interval + 5)
        connection = self.database_getter().connection
        if connection.zcard(KEYS.running(worker=self.worker_id)):
            return False
        connection.delete(KEYS.worker(worker=self.worker_id), KEYS.worker_wakeup(worker=self.worker_id),
                          KEYS.worker_control(worker=self.worker_id))
        connection.zrem(KEYS.workers(), self.worker_id)
        return True


def list_workers(connection: Any, heartbeat_timeout: float, clock: Clock = SYSTEM_CLOCK) -> list[WorkerInfo]:
    """Every registered worker, with its details, running jobs, and whether it still beats."""
    limit = liveness_time(clock, connection) - heartbeat_timeout
    workers = []
    for worker_id, last_beat in connection.zrange(KEYS.workers(), 0, -1, withscores=True):
        workers.append(WorkerInfo(
            id=worker_id, last_beat=last_beat, alive=last_beat >= limit,
            info=connection.hgetall(KEYS.worker(worker=worker_id)),
            running=connection.zrange(KEYS.running(worker=worker_id), 0, -1),
        ))
    return workers


def recover(database: Any, recoverer_id: str, heartbeat_timeout: float, max_tries: int,
            lock_seconds: float, error_model: Any, clock: Clock = SYSTEM_CLOCK) -> tuple[int, list[LostJob]]:
    """Give back the jobs of dead workers (see recover.lua: Redis's clock decides who is dead),
    log them and save the errors of those out of attempts; returns (dead workers, jobs)."""
    recovered = recover_script.call(
        database, now_score=script_time(clock), heartbeat_timeout=heartbeat_timeout, max_tries=max_tries,
        recoverer=recoverer_id, lock_ms=max(1, int(lock_seconds * 1000)),
        now_str=datetime_to_str(clock.now()))
    if recovered.dead_workers:
        logger.warning("%s dead worker(s) found by %s, %s job(s) recovered",
                       recovered.dead_workers, recoverer_id, len(recovered.jobs))
    record_lost_jobs(recovered.jobs, error_model, heartbeat_timeout)
    return recovered.dead_workers, recovered.jobs


def run_sweeper(database: Any, sweeper_id: str, heartbeat_timeout: float, max_tries: int, error_model: Any,
                interval: float, stop: threading.Event, clock: Clock = SYSTEM_CLOCK) -> None:
    """Recover the jobs of dead workers every ``interval`` seconds until ``stop`` is set, riding out
    Redis outages (the recovery runs again as soon as Redis answers)."""
    def sweep() -> bool:
        shards.across(lambda: recover(database, sweeper_id, heartbeat_timeout, max_tries, lock_seconds=0.001,
                                      error_model=error_model, clock=clock))  # each shard's workers
        return False

    every(interval, sweep, stop, database.connection.ping, log_to(logger), "to recover lost jobs")


def record_lost_jobs(jobs: list[LostJob], error_model: Any, heartbeat_timeout: float) -> None:
    """Log each recovered job; save an Error for each one that used its attempts."""
    from ..models import Job

    for lost in jobs:
        if lost.outcome == LostJobOutcome.REQUEUED:
            logger.warning("job %s given back to its queue: worker %s stopped beating (attempt %s)",
                           lost.ident, lost.worker_id, lost.tries)
            continue
        logger.error("job %s set to ERROR: its worker died on each of its %s attempts",
                     lost.ident, lost.tries)
        try:
            error_model.add_error(lost.queue_name, Job.get_from_ident(lost.ident), WorkerLost(
                f"worker {lost.worker_id} stopped beating for {heartbeat_timeout}s while running "
                f"this job, on each of its {lost.tries} attempts"
            ))
        except (LimpydJobsException, RedisError) as exc:
            logger.error("could not save the error of lost job %s: %s", lost.ident, exc)
