"""OpenTelemetry tracing: a producer span per add_job whose context the job keeps, and a consumer
span per attempt in a real worker process (the SDK's in-memory exporter on both sides), linked to
it; retries and recoveries visible; nothing read or written, and no round trip, when it is off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

from helpers import ROOT  # noqa: E402
from limpyd import fields  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from limpyd_jobs import STATUSES, Job
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.tracing import TracingObserver, instrument, uninstrument

WORKER = Path(__file__).resolve().parent / "tracing_worker.py"


class NamedJob(Job):
    """A job naming its task as the task layer's jobs do."""

    namespace = "tracing-tests"
    task_name = fields.InstanceHashField()


@pytest.fixture
def exporter():
    """add_job traced into an in-memory exporter for the test (this process's producer spans)."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    instrument(tracer_provider=provider)
    yield spans
    uninstrument()


def run_worker(queue: str, **options) -> list[dict]:
    """Run the queue in a worker process of its own; the spans it made."""
    root = str(ROOT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(WORKER), queue, json.dumps(options)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_a_job_keeps_its_enqueue_context_and_each_attempt_links_to_it(exporter, connection):
    steady = Job.add_job(identifier="steady", queue_name="traced")
    flaky = Job.add_job(identifier="flaky", queue_name="traced")
    again = Job.add_job(identifier="steady", queue_name="traced")  # the same job: its first context kept

    sent = {span.attributes["limpyd_jobs.identifier"]: span for span in exporter.get_finished_spans()[:2]}
    assert again.pk.get() == steady.pk.get()
    for job in (steady, flaky):
        producer = sent[job.identifier.hget()]
        assert producer.name == "send traced" and producer.kind.name == "PRODUCER"
        assert producer.attributes["messaging.message.id"] == job.ident
        context = producer.context
        assert job.traceparent.hget().startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")

    spans = run_worker("traced")

    consumers = [span for span in spans if span["kind"] == "CONSUMER"]
    assert [(s["attributes"]["limpyd_jobs.identifier"], s["attributes"]["limpyd_jobs.attempt"],
             s["attributes"]["limpyd_jobs.outcome"], s["status"]) for s in consumers] == [
        ("steady", 1, "success", "UNSET"), ("flaky", 1, "error", "ERROR"), ("flaky", 2, "success", "UNSET")]
    for span in consumers:
        producer = sent[span["attributes"]["limpyd_jobs.identifier"]]
        assert span["name"] == "process traced"
        assert span["links"] == [[producer.context.trace_id, producer.context.span_id]]
        assert span["attributes"]["messaging.destination.name"] == "traced"
        assert span["trace_id"] != producer.context.trace_id  # linked, not a child (as_child=False)
    assert "exception" in consumers[1]["events"]  # the error, with its type and traceback
    assert consumers[2]["attributes"]["limpyd_jobs.previous_attempt"] == "failed"
    assert "retry" in consumers[2]["events"]
    works = [span for span in spans if span["name"] == "work"]
    assert [w["parent"] for w in works] == [c["span_id"] for c in consumers]  # the job's own spans


def test_a_recovered_job_says_its_previous_attempt_was_lost(exporter, make_worker, connection):
    lost = Job.add_job(identifier="lost", queue_name="traced")
    dead = make_worker("traced")
    dead.update_keys()
    dead.wait_for_job()  # taken, then its worker stops beating: attempt 1 never ends
    connection.zadd(KEYS.workers(), {dead.id: time.time() - 3600})
    make_worker("traced").recover_lost_jobs()

    [span] = [span for span in run_worker("traced", as_child=True) if span["kind"] == "CONSUMER"]

    producer = exporter.get_finished_spans()[0]
    assert span["attributes"]["limpyd_jobs.attempt"] == 2
    assert span["attributes"]["limpyd_jobs.previous_attempt"] == "lost"
    assert "recovered" in span["events"]
    assert (span["trace_id"], span["parent"]) == (producer.context.trace_id, producer.context.span_id)
    assert lost.status.hget() == STATUSES.SUCCESS


def test_off_no_field_is_written_and_on_add_and_process_cost_no_round_trip_more(round_trips, make_worker,
                                                                                connection):
    Job.add_job(identifier="loads the script", queue_name="q")
    with round_trips() as trips:
        plain = Job.add_job(identifier="plain", queue_name="q")
    assert trips.commands == ["EVALSHA"]
    assert plain.traceparent.hget() is None  # not instrumented: nothing stored

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    instrument(tracer_provider=provider)
    try:
        with round_trips() as trips:
            traced = Job.add_job(identifier="traced", queue_name="q")
        assert trips.commands == ["EVALSHA"]
    finally:
        uninstrument()
    assert traced.traceparent.hget()

    def process(observers) -> list[str]:
        connection.flushdb()
        for number in range(3):
            Job.add_job(identifier=f"job {number}", queue_name="q")
        worker = make_worker("q", max_loops=3, callback=lambda job, queue: None, observers=observers)
        with round_trips() as trips:
            worker.run()
        return trips.commands

    process([])  # loads the worker's scripts
    traced_run = process([TracingObserver(tracer_provider=provider)])
    assert traced_run == process([]) and "EVALSHA" in traced_run
    assert [span.attributes["limpyd_jobs.outcome"] for span in spans.get_finished_spans()
            if span.kind.name == "CONSUMER"] == ["success"] * 3


def test_nothing_of_tracing_is_loaded_until_asked_for():
    code = ("import sys, limpyd_jobs, limpyd_jobs.workers, limpyd_jobs.testing.runs; "
            "from limpyd_jobs.models import Job; "
            "print('limpyd_jobs.tracing' in sys.modules, Job.add_job.__func__.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "add_job"]


def test_the_task_a_job_runs_is_named_on_both_spans(exporter, make_worker):
    NamedJob.add_job(identifier="result:1", queue_name="tasks", task_name="myapp.tasks.resize")
    provider_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(provider_spans))

    make_worker("tasks", max_loops=1, callback=lambda job, queue: None,
                observers=[TracingObserver(tracer_provider=provider)]).run()

    [sent] = exporter.get_finished_spans()
    [processed] = provider_spans.get_finished_spans()
    assert sent.attributes["limpyd_jobs.task"] == "myapp.tasks.resize"
    assert processed.attributes["limpyd_jobs.task"] == "myapp.tasks.resize"
