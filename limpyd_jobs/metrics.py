"""Prometheus metrics, read from Redis at each scrape: one exporter serves a whole deployment.

The counters are kept in Redis by the scripts that change the jobs' states (``KEYS.metrics``);
``JobsCollector`` reads them, with the queues' depths and the registry, in a few round trips.
Needs ``prometheus_client``; the metrics it exports are listed in docs/operating.rst.
"""

from __future__ import annotations

import base64
import hmac
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from . import shards
from .clock import liveness_time
from .constants import LOGGER_NAME
from .exceptions import ConfigurationException
from .models import Queue
from .operations.reader import Reader
from .protocol import KEYS
from .protocol.vocabulary import DURATION_BUCKETS, succeeded_count
from .utils import str_to_datetime

logger = logging.getLogger(LOGGER_NAME)
#: Where the metrics are served by default: this machine only.
DEFAULT_HOST = "127.0.0.1"

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
    """Reads the metrics of the queues (all, or those of ``names``) from Redis at each scrape: a
    few pipelines for all the queues (``operations.reader.CHUNK`` commands each), whatever their
    number."""

    def __init__(self, queue_model: type[Queue] = Queue, names: Iterable[str] | None = None,
                 heartbeat_timeout: float = 30) -> None:
        self.queue_model = queue_model
        self.names = set(names) if names is not None else None
        self.heartbeat_timeout = heartbeat_timeout

    def collect(self) -> Iterator[Any]:
        now = self.queue_model.clock.time()
        counters = {name: CounterMetricFamily(f"limpyd_jobs_jobs_{name}", help, labels=["queue"])
                    for name, help in COUNTERS.items()}
        durations = HistogramMetricFamily("limpyd_jobs_job_duration_seconds", "Run durations of ended jobs",
                                          labels=["queue"])
        waiting = GaugeMetricFamily("limpyd_jobs_queue_waiting_jobs", "Jobs waiting", labels=["queue"])
        delayed = GaugeMetricFamily("limpyd_jobs_queue_delayed_jobs", "Jobs delayed", labels=["queue"])
        oldest = GaugeMetricFamily("limpyd_jobs_queue_oldest_waiting_seconds",
                                   "Age of the job waiting first (0: none waits)", labels=["queue"])
        by_name: dict[str, dict[str, Any]] = {}
        alive = sum(shards.across(lambda: self._read(by_name)))  # each shard's queues, merged by name
        for name, found in sorted(by_name.items()):
            totals = found["totals"]
            totals["succeeded"] = found["succeeded"]  # with the success buckets' counts
            for field, family in counters.items():
                family.add_metric([name], totals.get(field, 0))
            durations.add_metric([name], _buckets(totals), _duration_sum(totals))
            waiting.add_metric([name], found["waiting"])
            delayed.add_metric([name], found["delayed"])
            oldest.add_metric([name], max(0.0, now - min(found["first"])) if found["first"] else 0)
        yield from counters.values()
        yield from (durations, waiting, delayed, oldest)
        yield GaugeMetricFamily("limpyd_jobs_workers_alive", "Workers whose heartbeat is recent", value=alive)

    def _read(self, by_name: dict[str, dict[str, Any]]) -> int:
        """Add the queues of the current shard to ``by_name``; the workers alive in it."""
        reader = Reader(self.queue_model)
        queues = [queue for queue in reader.queues(sorted(self.names) if self.names is not None else None)]
        read = reader.each(queues, lambda pipe, queue: pipe.hgetall(KEYS.metrics(queue=queue.key))
                           .lindex(queue.list_key("waiting"), 0).llen(queue.list_key("waiting"))
                           .zcard(queue.list_key("delayed")))
        firsts = [read[4 * number + 1] for number in range(len(queues))]
        located = [reader.locate(ident) if ident else None for ident in firsts]
        added = iter(reader.each([where for where in located if where is not None], lambda pipe, where:
                                 pipe.hget(KEYS.hash(model=where[0], pk=where[1]), "added")))
        for number, queue in enumerate(queues):
            values, _, waiting_count, delayed_count = read[4 * number:4 * number + 4]
            found = by_name.setdefault(queue.name, {"totals": {}, "first": [], "waiting": 0, "delayed": 0,
                                                    "succeeded": 0})
            found["succeeded"] += succeeded_count(values)
            for field, value in values.items():
                try:
                    found["totals"][field] = found["totals"].get(field, 0) + float(value)
                except ValueError:  # not what the scripts write: left out
                    continue
            if located[number] is not None and (moment := str_to_datetime(next(added))) is not None:
                found["first"].append(moment.timestamp())
            found["waiting"] += waiting_count
            found["delayed"] += delayed_count
        beat_limit = liveness_time(self.queue_model.clock, reader.connection) - self.heartbeat_timeout
        return reader.connection.zcount(KEYS.workers(), beat_limit, "+inf")


def _buckets(totals: dict[str, float]) -> list[tuple[str, float]]:
    """Cumulative bucket counts, as Prometheus wants them, from the per-bucket counts."""
    buckets, running = [], 0.0
    for index, bound in enumerate((*DURATION_BUCKETS, float("inf")), start=1):
        running += totals.get(f"d:{index}", 0) + totals.get(f"s:{index}", 0)
        buckets.append(("+Inf" if bound == float("inf") else str(bound), running))
    return buckets


def _duration_sum(totals: dict[str, float]) -> float:
    """Seconds of the durations: ``duration_us`` (integer µs) and older data's ``duration_sum``."""
    return totals.get("duration_sum", 0) + totals.get("duration_us", 0) / 1e6


def registry_for(collector: JobsCollector) -> CollectorRegistry:
    """A registry holding only ``collector`` (no process metrics: the exporter reads Redis)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


class Access:
    """Who may scrape: anyone (neither given), a bearer ``token``, or a ``user:password``."""

    def __init__(self, token: str | None = None, basic_auth: str | None = None) -> None:
        self.token = token or None
        user, sep, password = (basic_auth or "").partition(":")
        if basic_auth and (not sep or not user):
            raise ConfigurationException("metrics basic auth must be given as USER:PASSWORD")
        self.basic = f"{user}:{password}" if basic_auth else None

    def allows(self, header: str) -> bool:
        """Whether an ``Authorization`` header opens the metrics."""
        if self.token is None and self.basic is None:
            return True
        scheme, _, value = header.partition(" ")
        if self.token is not None and scheme.lower() == "bearer" and _same(value.strip(), self.token):
            return True
        if self.basic is not None and scheme.lower() == "basic":
            try:
                given = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return False
            return _same(given, self.basic)
        return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


def metrics_app(registry: CollectorRegistry, access: Access | None = None) -> Callable[..., Any]:
    """The WSGI application serving ``registry``: 401 without the credentials ``access`` asks
    for, 503 (one line) when Redis does not answer."""
    exposition = make_wsgi_app(registry)
    access = access or Access()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not access.allows(environ.get("HTTP_AUTHORIZATION", "")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                ("WWW-Authenticate", 'Basic realm="limpyd-jobs metrics"')])
            return [b"credentials required\n"]
        try:
            return exposition(environ, start_response)
        except RedisError as exc:
            logger.warning("metrics not read: Redis does not answer: %s", exc)
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "5")])
            return [b"Redis does not answer\n"]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the method's own name
        """Scrapes are not logged (one every few seconds)."""


def serve(port: int, host: str = DEFAULT_HOST, token: str | None = None, basic_auth: str | None = None,
          **options: Any) -> Any:
    """Serve the metrics over HTTP on ``host:port`` from a thread (``options``: JobsCollector's;
    ``token`` or ``basic_auth`` (``USER:PASS``) required of scrapers if given); returns the
    server (``shutdown()`` stops it)."""
    app = metrics_app(registry_for(JobsCollector(**options)), Access(token, basic_auth))
    server_class = _Server
    if ":" in host:
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    server = make_server(host, port, app, server_class, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="limpyd-jobs-metrics", daemon=True).start()
    logger.info("metrics served on http://%s:%s/metrics%s", host, server.server_port,
                " (credentials required)" if token or basic_auth else "")
    return server
