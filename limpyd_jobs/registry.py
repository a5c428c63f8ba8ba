"""The worker registry, heartbeats, and the recovery of jobs whose worker died.

Redis keys:
  ``limpyd-jobs:workers``                sorted set: worker id -> time of its last beat
  ``limpyd-jobs:worker:<id>``            hash: host, pid, queues, started, last_beat, mode (expires)
  ``limpyd-jobs:worker:<id>:running``    sorted set: idents the worker took and did not finish
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from . import lua
from .exceptions import LimpydJobsException, WorkerLost
from .utils import datetime_to_str, utcnow

WORKERS_KEY = "limpyd-jobs:workers"
WORKER_KEY = "limpyd-jobs:worker:{id}"
RUNNING_KEY = "limpyd-jobs:worker:{id}:running"

logger = logging.getLogger("limpyd-jobs")


@dataclass
class WorkerInfo:
    """What the registry knows of one worker."""

    id: str
    last_beat: float
    alive: bool
    info: dict[str, str] = field(default_factory=dict)
    running: list[str] = field(default_factory=list)


@dataclass
class LostJob:
    """A job given back (``requeued``) or failed (``error``) by a recovery."""

    ident: str
    outcome: str
    tries: int
    worker_id: str


def register(connection: Any, worker_id: str, queues: list[str], mode: str, ttl: float) -> None:
    """Record a worker starting its run."""
    now = utcnow()
    key = WORKER_KEY.format(id=worker_id)
    with connection.pipeline() as pipe:
        pipe.hset(key, mapping={
            "host": socket.gethostname(), "pid": os.getpid(), "queues": ",".join(queues),
            "mode": mode, "started": datetime_to_str(now), "last_beat": datetime_to_str(now),
        })
        pipe.expire(key, max(1, int(ttl)))
        pipe.zadd(WORKERS_KEY, {worker_id: now.timestamp()})
        pipe.execute()


def beat(connection: Any, worker_id: str, ttl: float) -> None:
    """Tell the registry the worker is alive (one round trip)."""
    now = utcnow()
    key = WORKER_KEY.format(id=worker_id)
    with connection.pipeline(transaction=False) as pipe:
        pipe.zadd(WORKERS_KEY, {worker_id: now.timestamp()})
        pipe.hset(key, "last_beat", datetime_to_str(now))
        pipe.expire(key, max(1, int(ttl)))
        pipe.execute()


def unregister(connection: Any, worker_id: str) -> bool:
    """Remove a worker that ends cleanly; one still holding jobs stays, for recovery. True if removed."""
    running = RUNNING_KEY.format(id=worker_id)
    if connection.zcard(running):
        return False
    connection.delete(WORKER_KEY.format(id=worker_id))
    connection.zrem(WORKERS_KEY, worker_id)
    return True


def list_workers(connection: Any, heartbeat_timeout: float) -> list[WorkerInfo]:
    """Every registered worker, with its details, running jobs, and whether it still beats."""
    limit = utcnow().timestamp() - heartbeat_timeout
    workers = []
    for worker_id, last_beat in connection.zrange(WORKERS_KEY, 0, -1, withscores=True):
        workers.append(WorkerInfo(
            id=worker_id, last_beat=last_beat, alive=last_beat >= limit,
            info=connection.hgetall(WORKER_KEY.format(id=worker_id)),
            running=connection.zrange(RUNNING_KEY.format(id=worker_id), 0, -1),
        ))
    return workers


def recover(database: Any, recoverer_id: str, heartbeat_timeout: float, max_tries: int,
            lock_seconds: float, error_model: Any) -> tuple[int, list[LostJob]]:
    """Give back the jobs of dead workers (see recover_jobs.lua), log them and save the errors
    of those out of attempts; returns (dead workers, jobs)."""
    now = utcnow()
    result = lua.recover_jobs(database, args=[
        now.timestamp(), now.timestamp() - heartbeat_timeout, max_tries, recoverer_id,
        max(1, int(lock_seconds * 1000)), datetime_to_str(now),
    ])
    rest = result[1:]
    jobs = [LostJob(rest[i], rest[i + 1], int(rest[i + 2]), rest[i + 3]) for i in range(0, len(rest), 4)]
    if result[0]:
        logger.warning("%s dead worker(s) found by %s, %s job(s) recovered",
                       result[0], recoverer_id, len(jobs))
    record_lost_jobs(jobs, error_model, heartbeat_timeout)
    return result[0], jobs


def record_lost_jobs(jobs: list[LostJob], error_model: Any, heartbeat_timeout: float) -> None:
    """Log each recovered job; save an Error for each one that used its attempts."""
    from .models import Job

    for lost in jobs:
        if lost.outcome == "requeued":
            logger.warning("job %s given back to its queue: worker %s stopped beating (attempt %s)",
                           lost.ident, lost.worker_id, lost.tries)
            continue
        logger.error("job %s set to ERROR: its worker died on each of its %s attempts",
                     lost.ident, lost.tries)
        try:
            job = Job.get_from_ident(lost.ident)
            queue_name = job.get_connection().hget(f"{job.queue_key.hget()}:hash", "name") or ""
            error_model.add_error(queue_name, job, WorkerLost(
                f"worker {lost.worker_id} stopped beating for {heartbeat_timeout}s while running "
                f"this job, on each of its {lost.tries} attempts"
            ))
        except (LimpydJobsException, RedisError) as exc:
            logger.error("could not save the error of lost job %s: %s", lost.ident, exc)


class Heartbeat(threading.Thread):
    """Beats for a worker every ``interval`` seconds, even while a long job runs."""

    def __init__(self, connection_getter: Any, worker_id: str, interval: float, ttl: float) -> None:
        super().__init__(name=f"limpyd-jobs-heartbeat-{worker_id}", daemon=True)
        self.connection_getter = connection_getter
        self.worker_id = worker_id
        self.interval = interval
        self.ttl = ttl
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                beat(self.connection_getter(), self.worker_id, self.ttl)
            except RedisError as exc:
                logger.warning("worker %s could not beat: %s", self.worker_id, exc)

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(self.interval + 5)
