"""OpenTelemetry tracing (``pip install limpyd-jobs[otel]``): a span per enqueue, one per attempt.

``instrument()`` makes ``Job.add_job`` open a PRODUCER span and store its context with the new
job (its ``traceparent`` field, written by the add script: still one round trip). A worker given
``TracingObserver()`` opens a CONSUMER span per attempt, linked to that context. Nothing is
patched, read or written until asked: without them, tracing costs nothing.
"""

from __future__ import annotations

import functools
from typing import Any

try:
    from opentelemetry import context, trace
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as exc:  # pragma: no cover - said once, clearly
    raise ImportError("limpyd_jobs.tracing needs OpenTelemetry: pip install 'limpyd-jobs[otel]'") from exc

from .constants import __version__
from .history import history_entries
from .models import Job
from .workers.attempt import Attempt
from .workers.observers import WorkerObserver

#: The ``messaging.system`` of every span.
SYSTEM = "limpyd_jobs"
#: The job field holding the W3C ``traceparent`` of the enqueue that made the job.
FIELD = "traceparent"
#: The field naming the task of a task's job (``limpyd_jobs.tasks``): ``limpyd_jobs.task`` on its spans.
TASK_FIELD = "task_name"

_PROPAGATOR = TraceContextTextMapPropagator()
#: How the attempt before this one ended, from the job's history event just before its start.
_PREVIOUS = {"requeued": "failed", "failed": "failed", "due": "failed",
             "recovered": "lost", "untaken": "lost"}


def _tracer(provider: Any = None) -> Any:
    return trace.get_tracer(SYSTEM, __version__, tracer_provider=provider)


# --- producer: Job.add_job


_original_add_job: Any = None


def instrument(tracer_provider: Any = None) -> None:
    """Trace every ``add_job`` of this process (of every Job model): a ``send <queue>`` span,
    whose context a new job keeps. Calling it again changes the provider only."""
    global _original_add_job
    if _original_add_job is None:
        _original_add_job = Job.__dict__["add_job"]
    Job.add_job = classmethod(functools.partial(_traced_add_job, _original_add_job.__func__,
                                                tracer_provider))


def uninstrument() -> None:
    """Stop tracing ``add_job``."""
    global _original_add_job
    if _original_add_job is not None:
        Job.add_job = _original_add_job
        _original_add_job = None


def _traced_add_job(add_job: Any, provider: Any, cls: type[Job], identifier: str,
                    queue_name: str | None = None, *args: Any, **fields_if_new: Any) -> Job:
    queue = queue_name or cls.queue_name or ""
    attributes = {"messaging.system": SYSTEM, "messaging.operation.type": "send",
                  "messaging.operation.name": "send", "messaging.destination.name": queue,
                  "limpyd_jobs.identifier": str(identifier), "limpyd_jobs.model": cls.get_model_repr()}
    if fields_if_new.get(TASK_FIELD):
        attributes["limpyd_jobs.task"] = str(fields_if_new[TASK_FIELD])
    with _tracer(provider).start_as_current_span(f"send {queue}", kind=SpanKind.PRODUCER,
                                                 attributes=attributes) as span:
        if FIELD not in fields_if_new:
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            if carrier.get(FIELD):  # none when the span is not recorded (no SDK, not sampled)
                fields_if_new[FIELD] = carrier[FIELD]
        job = add_job(cls, identifier, queue_name, *args, **fields_if_new)
        span.set_attribute("messaging.message.id", job.ident)
        return job


# --- consumer: the attempts of a worker


def _link(attempt: Attempt) -> list[Link]:
    """A link to the enqueue of the attempt's job, from the context its take returned."""
    traceparent = attempt.snapshot.get(FIELD)
    if not traceparent:
        return []
    found = trace.get_current_span(_PROPAGATOR.extract({FIELD: traceparent})).get_span_context()
    return [Link(found)] if found.is_valid else []


def _previous_attempt(attempt: Attempt) -> str | None:
    """How the attempt before this one ended (failed, lost), for attempts after the first: one read
    of the job's latest events (the first attempt of a job costs none)."""
    if not attempt.tries or attempt.tries < 2 or attempt.job is None:
        return None
    for event in reversed(history_entries(attempt.job.history.lrange(-5, -1))):  # the take wrote none
        if event.get("event") in _PREVIOUS:
            return _PREVIOUS[event["event"]]
    return None


class TracingObserver(WorkerObserver):
    """A ``process <queue>`` CONSUMER span for each attempt of a worker, linked to the job's
    enqueue, current while the job's code runs (its own spans are its children).

    ``as_child``: also make the span a child of the enqueue's, so that both are one trace (the
    default, a new trace linked to it, is what the messaging conventions advise)."""

    def __init__(self, tracer_provider: Any = None, as_child: bool = False) -> None:
        self.tracer_provider = tracer_provider
        self.as_child = as_child
        self._open: dict[str, list[Any]] = {}  # attempt token -> [span, context token]

    def _start(self, worker: Any, attempt: Attempt) -> Any:
        links = _link(attempt)
        parent = trace.set_span_in_context(trace.NonRecordingSpan(links[0].context)) \
            if self.as_child and links else context.Context()
        attributes = {"messaging.system": SYSTEM, "messaging.operation.type": "process",
                      "messaging.operation.name": "process", "messaging.destination.name": attempt.queue_name,
                      "messaging.message.id": attempt.ident, "limpyd_jobs.identifier": attempt.identifier,
                      "limpyd_jobs.worker": str(worker.id)}
        if attempt.tries:
            attributes["limpyd_jobs.attempt"] = attempt.tries
        if attempt.snapshot.get(TASK_FIELD):
            attributes["limpyd_jobs.task"] = attempt.snapshot[TASK_FIELD]
        span = _tracer(self.tracer_provider).start_span(
            f"process {attempt.queue_name}", context=parent, kind=SpanKind.CONSUMER, links=links,
            attributes=attributes)
        previous = _previous_attempt(attempt)
        if previous:
            span.set_attribute("limpyd_jobs.previous_attempt", previous)
            span.add_event("retry" if previous == "failed" else "recovered",
                           {"limpyd_jobs.attempt": attempt.tries})
        return span

    def before_run(self, worker: Any, attempt: Attempt) -> None:
        span = self._start(worker, attempt)
        self._open[attempt.token] = [span, context.attach(trace.set_span_in_context(span))]

    def after_run(self, worker: Any, attempt: Attempt, error: BaseException | None) -> None:
        opened = self._open.get(attempt.token)
        if opened is None:
            return
        span, token = opened
        if token is not None:
            context.detach(token)
            opened[1] = None
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))

    def after_record(self, worker: Any, attempt: Attempt, ending: str) -> None:
        """End the attempt's span with its outcome (a job that did not run here, skipped,
        delayed or killed in a child, gets a span of its own now)."""
        opened = self._open.pop(attempt.token, None) if attempt.token else None
        span = opened[0] if opened else self._start(worker, attempt)
        if opened and opened[1] is not None:
            context.detach(opened[1])
        span.set_attribute("limpyd_jobs.outcome", ending)
        if ending == "error" and not opened:
            span.set_status(Status(StatusCode.ERROR, "the job's process ended before its code returned"))
        span.end()
