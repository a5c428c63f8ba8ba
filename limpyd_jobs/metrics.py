"""Prometheus metrics, read from Redis at each scrape: one exporter serves a whole deployment.

The counters live in Redis (``KEYS.metrics``, one hash per queue), kept by the scripts that change
the jobs' states, so they survive worker restarts and cost no round trip of their own. At each
scrape, ``JobsCollector`` reads them with the queues' depths and the registry::

    limpyd_jobs_jobs_started_total{queue="images"}          counters: started, succeeded, failed,
    limpyd_jobs_job_duration_seconds_bucket{queue=...,le=}  timed_out, requeued (retries), recovered
    limpyd_jobs_queue_waiting_jobs{queue="images"}          gauges: waiting, delayed, oldest
    limpyd_jobs_workers_alive                               waiting job's age, workers alive

Queues are labelled by name (the priorities of a name are summed). Needs ``prometheus_client``
(``pip install limpyd-jobs[metrics]``): the library every Prometheus user has.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from .clock import liveness_time
from .constants import LOGGER_NAME
from .exceptions import LimpydJobsException
from .models import Job, Queue
from .protocol import KEYS
from .protocol.vocabulary import DURATION_BUCKETS
from .utils import str_to_datetime

logger = logging.getLogger(LOGGER_NAME)

#: The counters the scripts keep, and what they count.
COUNTERS = {
    "started": "Jobs a worker started",
    "succeeded": "Jobs that ended in SUCCESS",
    "failed": "Runs that ended in ERROR (a job retried and failing again counts each time)",
    "timed_out": "Runs stopped past their timeout (counted in failed too)",
    "requeued": "Failed jobs put back in their queue to be retried",
    "recovered": "Jobs given back to their queue after their worker stopped beating",
}


class JobsCollector(Collector):
    """Reads the metrics of the queues (all, or those of ``names``) from Redis at each scrape."""

    def __init__(self, queue_model: type[Queue] = Queue, names: Iterable[str] | None = None,
                 heartbeat_timeout: float = 30) -> None:
        self.queue_model = queue_model
        self.names = set(names) if names is not None else None
        self.heartbeat_timeout = heartbeat_timeout

    def collect(self) -> Iterator[Any]:
        connection = self.queue_model.get_connection()
        now = self.queue_model.clock.time()
        counters = {name: CounterMetricFamily(f"limpyd_jobs_jobs_{name}", help, labels=["queue"])
                    for name, help in COUNTERS.items()}
        durations = HistogramMetricFamily("limpyd_jobs_job_duration_seconds", "Run durations of ended jobs",
                                          labels=["queue"])
        waiting = GaugeMetricFamily("limpyd_jobs_queue_waiting_jobs", "Jobs waiting", labels=["queue"])
        delayed = GaugeMetricFamily("limpyd_jobs_queue_delayed_jobs", "Jobs delayed", labels=["queue"])
        oldest = GaugeMetricFamily("limpyd_jobs_queue_oldest_waiting_seconds",
                                   "Age of the job waiting first (0: none waits)", labels=["queue"])
        for name, queues in self._queues().items():
            totals: dict[str, float] = {}
            first_added: list[float] = []
            for queue, queue_key in queues:
                for field, value in connection.hgetall(KEYS.metrics(queue=queue_key)).items():
                    totals[field] = totals.get(field, 0) + float(value)
                first = connection.lindex(queue.waiting.key, 0)
                if first is not None and (added := _added(first)) is not None:
                    first_added.append(added)
            for field, family in counters.items():
                family.add_metric([name], totals.get(field, 0))
            durations.add_metric([name], _buckets(totals), totals.get("duration_sum", 0))
            waiting.add_metric([name], sum(queue.waiting.llen() for queue, _ in queues))
            delayed.add_metric([name], sum(queue.delayed.zcard() for queue, _ in queues))
            oldest.add_metric([name], max(0.0, now - min(first_added)) if first_added else 0)
        yield from counters.values()
        yield from (durations, waiting, delayed, oldest)
        beat_limit = liveness_time(self.queue_model.clock, connection) - self.heartbeat_timeout
        alive = connection.zcount(KEYS.workers(), beat_limit, "+inf")
        yield GaugeMetricFamily("limpyd_jobs_workers_alive", "Workers whose heartbeat is recent", value=alive)

    def _queues(self) -> dict[str, list[tuple[Queue, str]]]:
        """The queues (one per priority) by name, with their names as the scripts know them."""
        found: dict[str, list[tuple[Queue, str]]] = {}
        for pk in self.queue_model.collection():
            queue = self.queue_model(pk)
            name = queue.name.hget() or ""
            if self.names is None or name in self.names:
                found.setdefault(name, []).append((queue, KEYS.queue(model=self.queue_model._name, pk=pk)))
        return found


def _buckets(totals: dict[str, float]) -> list[tuple[str, float]]:
    """Cumulative bucket counts, as Prometheus wants them, from the per-bucket counts."""
    buckets, running = [], 0.0
    for index, bound in enumerate((*DURATION_BUCKETS, float("inf")), start=1):
        running += totals.get(f"d:{index}", 0)
        buckets.append(("+Inf" if bound == float("inf") else str(bound), running))
    return buckets


def _added(ident: str) -> float | None:
    """When a job was added (a timestamp), from its ident; None if it cannot be read."""
    try:
        added = str_to_datetime(Job.get_from_ident(ident, lazy=True).added.hget())
    except LimpydJobsException:  # an ident of a model this process does not know: left out
        return None
    return added.timestamp() if added else None


def registry_for(collector: JobsCollector) -> CollectorRegistry:
    """A registry holding only ``collector`` (no process metrics: the exporter reads Redis)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def serve(port: int, host: str = "0.0.0.0", **options: Any) -> Any:
    """Serve the metrics over HTTP on ``host:port`` from a thread (``options``: JobsCollector's);
    returns the server (``shutdown()`` stops it)."""
    server, _ = start_http_server(port, host, registry=registry_for(JobsCollector(**options)))
    logger.info("metrics served on http://%s:%s/metrics", host, server.server_port)
    return server
