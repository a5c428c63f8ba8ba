"""The steps of a worker's run around its loop: start, wait for a queue, ride out outages, end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ..models import Job
from ..outages import Outage, is_outage
from ..utils import naive_utc


class RunSteps:
    """What ``Worker.run`` does before and after its loop, each step repeated through outages."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.metrics_server: Any = None

    def through_outages(self, step: Callable[[], bool]) -> bool:
        """Call ``step`` until it returns True, waiting for Redis to answer again after each outage;
        False if the worker must stop first."""
        worker = self.worker
        outage: Outage | None = None
        while not worker.must_stop():
            try:
                if step():
                    return True
            except RedisError as exc:
                if not is_outage(exc):
                    raise
                stopping = worker.signals.stopping
                outage = outage or Outage(exc, "", worker.connection.ping, stopping, worker.log)
                outage.wait(exc)
        return False

    def begin(self) -> bool:
        """Register the Job models, read the queues, show the counts, register the worker. True once done."""
        worker = self.worker
        worker.fetcher.want_counts = worker.update_title
        Job.register_models()
        worker.update_keys()
        if worker.update_title:
            worker.fetcher.counts = (worker.count_waiting_jobs(), worker.count_delayed_jobs())
        worker.set_status("starting")
        worker.start_beating()
        if worker.metrics_port is not None and self.metrics_server is None:
            from ..metrics import serve  # prometheus_client: only for those who want metrics

            self.metrics_server = serve(worker.metrics_port, worker.metrics_host,
                                        queue_model=worker.queue_model, names=worker.queues,
                                        heartbeat_timeout=worker.heartbeat_timeout)
        if not worker.keys:
            worker.log(f"no queue {','.join(worker.queues)} yet: waiting for one", level="warning")
        return True

    def await_queues(self) -> bool:
        """Stay ``starting`` until one of the worker's queues exists (a job added to one wakes the
        worker up; others are seen every ``fetch_priorities_delay``). True once one does."""
        worker = self.worker
        while not worker.keys and not worker.must_stop() and not worker.burst:
            worker.lookout.wait_for_wakeup()
            if not worker.must_stop():
                worker.update_keys()
        return bool(worker.keys) or worker.burst

    def loop(self) -> bool:
        """Call ``run_one`` until told to stop. True once stopped."""
        while not self.worker.must_stop():
            self.worker.run_one()
        return True

    def end(self) -> None:
        """End a run: write the successes not written yet, give back what was taken and not run,
        stop the parts, leave the registry."""
        worker = self.worker
        try:
            worker.flights.drain()  # with concurrency: the jobs in flight end first
            worker.batch.write()
        except RedisError as exc:  # they stay in the running set: recovery gives them back
            worker.log(f"could not record the ends of jobs ({exc}): they will run again", level="warning")
        worker.holdings.give_back_unstarted(worker.flights.unstarted())
        if worker.fetcher.take_lost:
            try:
                worker.upkeep.reconcile()
            except RedisError as exc:  # what stays in the running set is recovered
                worker.log(f"could not look for lost takes ({exc})", level="warning")
        worker.executor.close()
        self._leave_registry()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        worker.end_date = naive_utc(worker.clock.now())
        worker.set_status("terminated")
        worker.run_ended()
        worker.notify("on_stop", worker)
        worker.stop_handling_end_signal()

    def _leave_registry(self) -> None:
        """Stop the heartbeat; leave the registry (unless jobs are left, to be recovered)."""
        worker = self.worker
        try:
            if not worker.presence.stop():
                worker.log("jobs left unfinished: they will be recovered by another worker", level="warning")
        except RedisError as exc:
            worker.log(f"could not leave the registry ({exc})", level="warning")
