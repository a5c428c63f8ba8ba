"""A worker's periodic tasks: read its queues, move due delayed jobs, recover, purge, read orders."""

from __future__ import annotations

from typing import Any

from ..clock import script_time
from ..constants import CONTROL_CHECK_DELAY
from ..orm import model_name
from ..protocol import KEYS, ControlOrder
from ..protocol.scripts import reconcile, requeue_delayed
from ..utils import stored
from . import registry
from .maintenance import Maintenance
from .retention import Retention


class Upkeep:
    """The bodies of a worker's maintenance tasks, and the table that says when each runs."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.retention = Retention(worker.keep_finished, worker.finished_ttl, worker.purge_delay,
                                   worker.error_model)

    def table(self) -> Maintenance:
        """The periodic tasks and their intervals (None: never; 0: at every pass)."""
        worker = self.worker
        table = Maintenance(worker.clock)
        table.add("update_keys", worker.fetch_priorities_delay, worker.update_keys)
        table.add("requeue_delayed", worker.fetch_delayed_delay, self.requeue_delayed_jobs)
        table.add("recover", worker.recovery_delay or None, worker.recover_lost_jobs, wakes=False)
        table.add("purge", worker.purge_delay or None, self.purge_finished_jobs, wakes=False)
        table.add("control", CONTROL_CHECK_DELAY, self.check_control, wakes=False)
        return table

    def update_keys(self) -> None:
        """Read the waiting keys of the worker's queues, highest priority first (but paused ones)."""
        worker = self.worker
        worker.keys = self._unpaused(worker.fetcher.refresh())
        worker.maintenance.done("update_keys")

    def requeue_delayed_jobs(self) -> None:
        """Move the due delayed jobs of the worker's queues to their waiting lists."""
        worker = self.worker
        names = {info.pk: info.name for info in worker.fetcher.queues}
        if names:
            moved = requeue_delayed.call(worker.queue_model.database,
                                         queue_model=model_name(worker.queue_model),
                                         now_score=script_time(worker.clock), queues=names)
            for ident, reason in moved.failures:
                worker.log(f"could not requeue delayed job {ident}: {reason}", level="warning")
            self.delayed_due_at(moved.next_due)

    def delayed_due_at(self, at: float | None) -> None:
        """The first delayed job of the queues is due at ``at`` (a clock timestamp): move it then."""
        self.worker.maintenance.want("requeue_delayed", at)

    def recover_lost_jobs(self) -> None:
        """Give back the jobs of workers that stopped beating (one worker at a time does it)."""
        worker = self.worker
        registry.recover(worker.queue_model.database, worker.id, worker.heartbeat_timeout,
                         worker.lost_job_max_tries, lock_seconds=worker.recovery_delay,
                         error_model=worker.error_model, clock=worker.clock)

    def purge_finished_jobs(self) -> None:
        """Delete finished jobs beyond ``keep_finished`` per queue or older than ``finished_ttl``."""
        worker = self.worker
        deleted, behind = self.retention.purge(info.queue for info in worker.fetcher.queues)
        if behind:  # a list may have more to delete: again at the next pass of the loop
            worker.maintenance.want("purge", worker.clock.time())
        if deleted:
            worker.log(f"{deleted} finished job(s) deleted", level="debug")

    def job_ran(self) -> None:
        """Count a job run; a slice's worth of ends since the last purge brings the purge forward."""
        if self.retention.ran():
            self.worker.maintenance.want("purge", self.worker.clock.time())

    def going_idle(self) -> None:
        """A worker that found no job purges the ends it has not purged yet, before it waits."""
        if self.retention.idle():
            self.purge_finished_jobs()

    def check_control(self) -> None:
        """Read the orders of operators, in one round trip: stop after the current job when the
        control key says HALT or this worker is asked to stop; take from no paused queue."""
        worker = self.worker
        with worker.connection.pipeline(transaction=False) as pipe:
            pipe.get(KEYS.control()).get(KEYS.worker_control(worker=worker.id)).smembers(KEYS.paused())
            control, own, paused = pipe.execute()
        if control == ControlOrder.HALT:
            worker.log("control says HALT: stopping")
            worker.end_forced = True
        if own == ControlOrder.STOP:
            worker.log("asked to stop: stopping")
            worker.end_forced = True
        self.pause(set(paused or ()))

    def pause(self, names: set[str]) -> None:
        """Take no job from the queues of these names (the others go on), until they are resumed."""
        worker = self.worker
        if names == worker.paused:
            return
        for name in sorted(set(worker.queues) & (names ^ worker.paused)):
            worker.log(f"queue {name} {'paused' if name in names else 'resumed'}")
        worker.paused = names
        worker.keys = self._unpaused(worker.fetcher.keys())
        worker.lookout.idle_since = None  # look again, at once

    def reconcile(self) -> None:
        """Give back the jobs of the worker's running set it does not know it holds: a take
        (or a take along with an end) failed, and may have run without its reply arriving."""
        worker = self.worker
        now_str, now_score = stored(worker.clock.now())
        given_back = reconcile.call(worker.queue_model.database, worker=worker.id, now_str=now_str,
                                    now_score=now_score,
                                    known=[*worker.holdings.attempts, *worker.fetcher.kept_idents()])
        worker.fetcher.take_lost = False
        for ident in given_back:
            worker.log(f"job {ident} was taken, the reply lost: given back to its queue", level="warning")

    def _unpaused(self, keys: list[str]) -> list[str]:
        """The waiting keys of queues not paused."""
        worker = self.worker
        if not worker.paused:
            return keys
        return [key for key in keys
                if (info := worker.fetcher.info(key)) is None or info.name not in worker.paused]
