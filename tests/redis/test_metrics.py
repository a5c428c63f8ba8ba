"""Prometheus metrics: counters kept in Redis by the scripts, served by an exporter that reads
Redis, scraped over HTTP."""

from __future__ import annotations

import urllib.request

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from limpyd_jobs import Job  # noqa: E402
from limpyd_jobs.exceptions import JobTimeout  # noqa: E402
from limpyd_jobs.metrics import serve  # noqa: E402
from limpyd_jobs.operations import all_counts  # noqa: E402
from limpyd_jobs.protocol import KEYS  # noqa: E402
from limpyd_jobs.workers import Worker  # noqa: E402


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """The samples the exporter serves, by (name, sorted labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.fixture
def exporter():
    server = serve(0, "127.0.0.1")
    yield server.server_port
    server.shutdown()


@pytest.mark.parametrize("prefetch", [1, 4])  # with 4, successes are counted by batches
def test_the_exporter_serves_what_the_scripts_counted(exporter, clock, prefetch):
    for number in range(3):
        Job.add_job(identifier=f"ok:{number}", queue_name="images")
    Job.add_job(identifier="bad", queue_name="images")
    Job.add_job(identifier="slow", queue_name="images")
    Job.add_job(identifier="later", queue_name="images", delayed_for=60)

    def work(job, queue):
        identifier = job.identifier.hget()
        clock.advance(0.2)  # every run takes 0.2 s
        if identifier == "bad":
            raise ValueError("bad")
        if identifier == "slow":
            raise JobTimeout("past its timeout")

    Worker("images", callback=work, max_loops=6, requeue_times=1, requeue_delay_delta=0, timeout=0.05,
           terminate_gracefuly=False, prefetch=prefetch).run()
    Job.add_job(identifier="waits", queue_name="images")
    clock.advance(30)
    samples = scrape(exporter)
    queue = (("queue", "images"),)
    assert samples[("limpyd_jobs_jobs_started_total", queue)] == 6
    assert samples[("limpyd_jobs_jobs_succeeded_total", queue)] == 3
    assert samples[("limpyd_jobs_jobs_failed_total", queue)] == 3  # bad twice (retried), slow once
    assert samples[("limpyd_jobs_jobs_timed_out_total", queue)] == 1
    assert samples[("limpyd_jobs_jobs_requeued_total", queue)] == 2  # bad, and slow, once each
    assert samples[("limpyd_jobs_job_duration_seconds_count", queue)] == 6
    if prefetch == 1:
        assert samples[("limpyd_jobs_job_duration_seconds_sum", queue)] == pytest.approx(1.2)
        assert samples[("limpyd_jobs_job_duration_seconds_bucket", (("le", "0.1"), *queue))] == 0
        assert samples[("limpyd_jobs_job_duration_seconds_bucket", (("le", "0.25"), *queue))] == 6
    else:  # a job taken ahead starts when taken: its duration includes its wait in the worker
        assert samples[("limpyd_jobs_job_duration_seconds_sum", queue)] > 1.2
    assert samples[("limpyd_jobs_job_duration_seconds_bucket", (("le", "+Inf"), *queue))] == 6
    assert samples[("limpyd_jobs_queue_waiting_jobs", queue)] == 2  # "waits", and "slow" retried
    assert samples[("limpyd_jobs_queue_delayed_jobs", queue)] == 1
    assert samples[("limpyd_jobs_queue_oldest_waiting_seconds", queue)] >= 30
    assert samples[("limpyd_jobs_workers_alive", ())] == 0  # the worker left the registry


@pytest.mark.parametrize("prefetch", [1, 4])  # with 4, the three start together and end in one script
def test_durations_are_summed_in_integer_microseconds_within_and_across_minutes(exporter, clock, prefetch,
                                                                                 connection):
    runs = {"a": 0.25, "b": 49.9, "c": 3600}  # within a minute, across one, across an hour
    clock.advance(10)
    jobs = [Job.add_job(identifier=identifier, queue_name="d") for identifier in runs]
    Worker("d", callback=lambda job, queue: clock.advance(runs[job.identifier.hget()]), max_loops=3,
           timeout=0.05, terminate_gracefuly=False, prefetch=prefetch).run()
    key = KEYS.metrics(queue=jobs[0].queue_key.hget())
    metrics = connection.hgetall(key)
    expected = {1: 3_650_150_000, 4: 250_000 + 50_150_000 + 3_650_150_000}[prefetch]
    assert metrics["duration_us"] == str(expected) and "duration_sum" not in metrics
    connection.hset(key, "duration_sum", "1.5")  # older data's
    samples = scrape(exporter)
    queue = (("queue", "d"),)
    assert samples[("limpyd_jobs_job_duration_seconds_sum", queue)] == pytest.approx(expected / 1e6 + 1.5)
    assert samples[("limpyd_jobs_job_duration_seconds_bucket", (("le", "0.25"), *queue))] == 1
    assert samples[("limpyd_jobs_job_duration_seconds_bucket", (("le", "10"), *queue))] == 1
    assert samples[("limpyd_jobs_job_duration_seconds_bucket", (("le", "+Inf"), *queue))] == 3


def test_successes_are_counted_by_their_buckets_and_without_a_duration_by_succeeded(exporter, clock,
                                                                                      connection):
    jobs = [Job.add_job(identifier=identifier, queue_name="s") for identifier in ("timed", "no start")]
    key = KEYS.metrics(queue=jobs[0].queue_key.hget())
    connection.hset(key, "succeeded", "5")  # older data's successes

    def run(job, queue):
        if job.identifier.hget() == "no start":  # no duration: counted in `succeeded`
            connection.hdel(job.key, "start")

    Worker("s", callback=run, max_loops=2, timeout=0.05, terminate_gracefuly=False).run()
    assert connection.hget(key, "succeeded") == "6" and connection.hget(key, "s:1") == "1"
    samples = scrape(exporter)
    queue = (("queue", "s"),)
    assert samples[("limpyd_jobs_jobs_succeeded_total", queue)] == 7
    assert samples[("limpyd_jobs_job_duration_seconds_bucket", (("le", "+Inf"), *queue))] == 1
    assert all_counts()[0].succeeded_total == 7


def test_the_throughput_ttl_is_set_by_the_first_success_of_each_minute(clock, connection):
    key = KEYS.throughput(hour="2026-01-01 00")
    for advance, ttl_before in ((5, None), (10, 100), (60, 100)):  # minute 00, 00 again, then 01
        clock.advance(advance)
        Job.add_job(identifier=f"at:{advance}", queue_name="t")
        if ttl_before is not None:
            connection.expire(key, ttl_before)
        Worker("t", callback=lambda job, queue: None, max_loops=1, timeout=0.05,
               terminate_gracefuly=False).run()
        if advance == 10:
            assert connection.ttl(key) <= 100  # the minute was counted already: its TTL stays
        else:
            assert connection.ttl(key) > 7000
    assert connection.hgetall(key) == {"00": "2", "01": "1"}


@pytest.mark.slow
def test_counters_are_in_redis_and_survive_the_exporter(clock):
    Job.add_job(identifier="job", queue_name="q")
    Worker("q", callback=lambda job, queue: None, max_loops=1, timeout=0.05, terminate_gracefuly=False).run()
    for _ in range(2):  # two exporters, one after the other, read the same counters
        server = serve(0, "127.0.0.1")
        try:
            assert scrape(server.server_port)[("limpyd_jobs_jobs_succeeded_total", (("queue", "q"),))] == 1
        finally:
            server.shutdown()


def test_a_worker_serves_the_metrics_of_its_queues_while_it_runs(clock):
    Job.add_job(identifier="mine", queue_name="mine")
    Job.add_job(identifier="other", queue_name="other")
    seen = []

    def look(job, queue):
        seen.append(scrape(worker.steps.metrics_server.server_port))

    worker = Worker("mine", callback=look, max_loops=1, metrics_port=0, timeout=0.05,
                    terminate_gracefuly=False)
    worker.run()
    [samples] = seen
    assert samples[("limpyd_jobs_jobs_started_total", (("queue", "mine"),))] == 1
    assert not any(labels == (("queue", "other"),) for _, labels in samples)
    assert samples[("limpyd_jobs_workers_alive", ())] == 1


def test_the_limpyd_jobs_command_serves_the_metrics_until_stopped(redis_server, threads):
    import io
    import threading

    from limpyd_jobs.cli.admin import main
    from limpyd_jobs.testing.server import free_port

    Job.add_job(identifier="job", queue_name="q")
    port, stop, out, seen = free_port(), threading.Event(), io.StringIO(), []

    def scrape_then_stop():
        for _ in range(500):  # until the server listens (each try fails fast while it does not)
            try:
                seen.append(scrape(port))
                break
            except OSError:
                threading.Event().wait(0.01)
        stop.set()

    threads.start(scrape_then_stop)
    assert main([f"--database=127.0.0.1:{redis_server.port}:0", "metrics", f"--port={port}",
                 "--host=127.0.0.1"], stop=stop, out=out) == 0
    threads.join()
    assert seen[0][("limpyd_jobs_queue_waiting_jobs", (("queue", "q"),))] == 1
    assert f"127.0.0.1:{port}/metrics" in out.getvalue()
