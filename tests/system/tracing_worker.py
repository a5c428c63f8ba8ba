"""A worker process with OpenTelemetry's SDK and its in-memory exporter, for tests/test_tracing.py:
``python tracing_worker.py QUEUE [OPTIONS_JSON]`` runs the queue in burst mode with a
TracingObserver, then prints the spans it made as JSON lines."""

from __future__ import annotations

import json
import sys

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from limpyd_jobs.tracing import TracingObserver
from limpyd_jobs.workers import Worker


def work(job, queue):
    """Fails the first attempt of 'flaky'; opens a span of its own, a child of the attempt's."""
    with trace.get_tracer("app").start_as_current_span("work"):
        if job.identifier.hget() == "flaky" and job.tries.hget() == "1":
            raise ConnectionError("flaky the first time")


def as_data(span) -> dict:
    return {"name": span.name, "kind": span.kind.name, "trace_id": span.context.trace_id,
            "span_id": span.context.span_id, "parent": span.parent.span_id if span.parent else None,
            "links": [[link.context.trace_id, link.context.span_id] for link in span.links],
            "attributes": dict(span.attributes), "status": span.status.status_code.name,
            "events": [event.name for event in span.events]}


def main(queue: str, options: str = "{}") -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    Worker(queue, callback=work, burst=True, max_loops=None, terminate_gracefuly=False, timeout=0.05,
           observers=[TracingObserver(**json.loads(options))], requeue_times=1, requeue_delay_delta=0).run()
    for span in exporter.get_finished_spans():
        print(json.dumps(as_data(span)))


if __name__ == "__main__":
    main(*sys.argv[1:])
