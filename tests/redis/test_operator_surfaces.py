"""The operator's surfaces under hostile input and at scale: bounded lookups, reads that cost what
they show, one validation of names for every entry, timeouts on a hung Redis, metrics bound to
this machine, and control characters escaped in what a terminal or a log shows."""

from __future__ import annotations

import base64
import io
import logging
import os
import signal
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from typing import Any

import pytest
import redis

pytest.importorskip("prometheus_client")

from limpyd_jobs import Job, Queue, pending, recurring
from limpyd_jobs import operations as ops
from limpyd_jobs.cli.admin import main as admin
from limpyd_jobs.cli.common import RET_CONNECT, RET_OK, RET_USAGE
from limpyd_jobs.cli.schedule import main as schedule_main
from limpyd_jobs.exceptions import InvalidIdent, InvalidValue
from limpyd_jobs.logs import TextFormatter
from limpyd_jobs.metrics import JobsCollector, registry_for, serve
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.protocol.scripts import schedule_set
from limpyd_jobs.recurring.scheduler import TIMELINE_PK, RecurringJob, RecurringSchedule, Timeline
from limpyd_jobs.testing.server import RedisServer
from limpyd_jobs.validation import MAX_IDENTIFIER_LENGTH, MAX_QUEUE_NAME_LENGTH, printable
from limpyd_jobs.workers.settings import WorkerSettings

#: Escape sequences a hostile job puts in its messages: red text, a window title, a bell.
HOSTILE = "\x1b[31mred\x1b[0m \x1b]0;owned\x07 done\rover"


def fill_finished(queues: int, per_queue: int, connection) -> list[str]:
    """``queues`` queues whose success lists hold ``per_queue`` entries each (what a long-lived
    deployment keeps), written straight into the lists."""
    names = [f"q{number:03d}" for number in range(queues)]
    model = Job.get_model_repr()
    for name in names:
        key = Queue.get_queue(name).success.key
        with connection.pipeline(transaction=False) as pipe:
            for start in range(0, per_queue, 5000):
                stop = min(start + 5000, per_queue)
                pipe.rpush(key, *(f"{model}:{number}" for number in range(start, stop)))
            pipe.execute()
    return names


# --- bounded lookups


def test_a_job_named_by_65000_slashes_is_refused_at_once_in_flat_memory(connection):
    Job.add_job(identifier="a/b", queue_name="images/hd")
    text = "images/" + "/" * 65_000
    tracemalloc.start()
    try:
        with pytest.raises(InvalidIdent, match="at most"):
            ops.find_job(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # the text is 65 kB: no copy of it per '/'
    with pytest.raises(InvalidIdent):  # the longest a queue name and an identifier may be
        ops.find_job("q/" + "x" * (MAX_QUEUE_NAME_LENGTH + MAX_IDENTIFIER_LENGTH))
    assert ops.find_job("images/hd/a/b").identifier == "a/b"  # a name holding '/' is still found


def test_the_show_command_says_a_too_long_job_in_one_line(capsys):
    code = admin(["show", "images/" + "/" * 65_000])
    out, err = capsys.readouterr()
    assert code == RET_USAGE and out == "" and err.count("\n") == 1 and len(err) < 300


def test_identifiers_and_queue_names_have_documented_limits():
    with pytest.raises(InvalidValue, match=f"at most {MAX_IDENTIFIER_LENGTH}"):
        Job.add_job(identifier="x" * (MAX_IDENTIFIER_LENGTH + 1), queue_name="q")
    with pytest.raises(InvalidValue, match=f"at most {MAX_QUEUE_NAME_LENGTH}"):
        Job.add_job(identifier="x", queue_name="q" * (MAX_QUEUE_NAME_LENGTH + 1))
    with pytest.raises(InvalidValue):
        pending.schedule_job("", 10)
    assert Job.add_job(identifier="x" * MAX_IDENTIFIER_LENGTH, queue_name="q").identifier.hget()


# --- reads that cost what they show


def test_counts_of_100_queues_of_10000_finished_jobs_send_commands_per_queue_not_per_job(connection,
                                                                                           round_trips):
    names = fill_finished(100, 10_000, connection)
    with round_trips() as trips:
        started = time.perf_counter()
        counts = ops.all_counts()
        elapsed = time.perf_counter() - started
    assert [count.success for count in counts] == [10_000] * 100 and [count.name for count in counts] == names
    assert trips.count <= 6 * len(names) + 10, trips.count  # 5 per queue, and the queues and workers
    logging.getLogger(__name__).info("all_counts of 100 x 10,000: %.1f ms", elapsed * 1000)
    with round_trips() as trips:
        page = ops.jobs("q007", "success", offset=40, limit=20)
    assert len(page) == 20 and page[0].ident.endswith(":9959")  # the latest ended first
    assert trips.count < 40 and "LRANGE" in trips.commands


def test_the_metrics_scrape_sends_commands_per_queue_in_pipelines(connection, round_trips):
    names = fill_finished(300, 1, connection)
    Job.add_job(identifier="first", queue_name=names[0])
    with round_trips() as trips:
        text = b"".join(_scrape(registry_for(JobsCollector())))
    assert b'limpyd_jobs_queue_waiting_jobs{queue="q000"} 1.0' in text
    assert trips.count <= 5 * len(names) + 10, trips.count  # the queues, then 4 per queue
    assert set(trips.commands) <= {"SMEMBERS", "HMGET", "HGETALL", "LINDEX", "LLEN", "ZCARD", "HGET",
                                   "ZCOUNT", "TIME"}  # TIME: liveness by Redis's clock


class CountingConnection(redis.Connection):
    """A redis-py connection that counts what it sends: each send is a round trip."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)


@pytest.mark.slow
def test_the_metrics_scrape_of_5000_queues_is_a_few_round_trips(connection, round_trips):
    names = fill_finished(5000, 1, connection)
    settings = dict(BaseJobsModel.database.connection_settings)
    pool = redis.ConnectionPool(connection_class=CountingConnection, decode_responses=True, **settings)
    BaseJobsModel.database.reset(connection_pool=pool)
    registry = registry_for(JobsCollector())
    CountingConnection.sends = 0
    with round_trips() as trips:
        started = time.perf_counter()
        text = b"".join(_scrape(registry))
        elapsed = time.perf_counter() - started
    assert text.count(b"limpyd_jobs_queue_waiting_jobs{") == len(names)
    assert CountingConnection.sends <= 2 + 2 * (5 * len(names) // 500 + 1), CountingConnection.sends
    logging.getLogger(__name__).info("scrape of 5,000 queues: %.0f ms, %d commands, %d round trips",
                                     elapsed * 1000, trips.count, CountingConnection.sends)


def _scrape(registry) -> list[bytes]:
    from prometheus_client import generate_latest

    return [generate_latest(registry)]


# --- one validation of names, whatever the entry


@pytest.mark.parametrize("args", [("set", "", "NOW"), ("set", "a:b,c", "NOW"), ("set", "x:", "NOW"),
                                  ("set", "report", "NOW", "--queue", "x,y"),
                                  ("set", "y" * (MAX_IDENTIFIER_LENGTH + 1), "NOW")])
def test_schedules_the_workers_could_not_run_are_refused_with_exit_2(args, redis_server, capsys, clock):
    code = schedule_main([f"--database=127.0.0.1:{redis_server.port}:0", *args])
    out, err = capsys.readouterr()
    assert code == RET_USAGE and err.count("\n") == 1 and "Traceback" not in err, err
    assert recurring.schedules() == [] and ops.queue_names() == []


def test_what_redis_holds_that_is_invalid_is_read_and_removed_never_breaks_a_read(clock, capsys, connection):
    for job_id in ("", "a:b,c"):  # as an older version wrote them
        schedule_set.call(
            BaseJobsModel.database, schedule_model=RecurringSchedule._name, timeline_model=Timeline._name,
            timeline_pk=TIMELINE_PK, job_model=RecurringJob._name, model_repr=RecurringJob.get_model_repr(),
            job_id=job_id, next_run=clock.time(), event="TML", now_int=int(clock.time()), reason="",
            fields=["schedule", "NOW", 0, "queue_name", job_id.rsplit(":", 1)[-1], 1])
    recurring.dispatch()
    assert [job_id for job_id, _ in recurring.schedules()] == ["", "a:b,c"]
    assert [told["schedule"] for told in recurring.tell_all(["", "a:b,c"])] == ["NOW", "NOW"]
    assert "b,c" in ops.queue_names()
    counts = {count.name: count for count in ops.all_counts()}
    assert counts["b,c"].waiting == 1 and ops.counts("b,c").waiting == 1
    assert [info.identifier for info in ops.jobs("b,c")] == ["a:b,c"]
    assert ops.empty("b,c") == 1
    recurring.unset_schedule("")
    assert [job_id for job_id, _ in recurring.schedules()] == ["a:b,c"]


def test_the_read_commands_of_schedules_write_nothing(redis_server, capsys, clock, connection, round_trips):
    recurring.set_schedule("report:daily", "RRULE:FREQ=DAILY")
    recurring.dispatch()
    database = f"--database=127.0.0.1:{redis_server.port}:0"
    with round_trips() as trips:
        for argv in (["schedules"], ["statuses"], ["tell", "report:daily"], ["tell", "nothing"]):
            assert schedule_main([database, *argv]) == RET_OK, argv
    assert "report:daily" in capsys.readouterr()[0]
    sent = {name.lower() for name in trips.commands}
    flags = connection.execute_command("COMMAND", "INFO", *sent)
    assert [name for name in sent if "write" in flags[name]["flags"]] == [] and "evalsha" not in sent, sent


# --- a hung Redis


@pytest.fixture
def stopped_redis():
    """A Redis of its own, and ``stop()`` that freezes it (SIGSTOP) until the test ends."""
    with RedisServer() as server:
        frozen = []

        def stop() -> None:
            os.kill(server.process.pid, signal.SIGSTOP)
            frozen.append(True)

        server.freeze = stop
        try:
            yield server
        finally:
            if frozen:
                os.kill(server.process.pid, signal.SIGCONT)


@pytest.mark.slow
def test_a_command_on_a_hung_redis_says_so_in_one_line_within_3_seconds(stopped_redis, capsys):
    assert admin([f"--database={stopped_redis.url}", "queues"]) == RET_OK
    capsys.readouterr()
    stopped_redis.freeze()
    started = time.monotonic()
    code = admin([f"--database={stopped_redis.url}", "info"])
    elapsed = time.monotonic() - started
    _, err = capsys.readouterr()
    assert code == RET_CONNECT and err.count("\n") == 1 and elapsed <= 3, (code, err, elapsed)


@pytest.mark.slow
def test_the_metrics_of_a_hung_redis_answer_503_within_3_seconds(stopped_redis):
    from limpyd_jobs.databases import use_database

    use_database(stopped_redis.url)
    ops.use_timeouts()
    server = serve(0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        assert urllib.request.urlopen(url, timeout=10).status == 200
        stopped_redis.freeze()
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 503 and time.monotonic() - started <= 3
    finally:
        server.shutdown()
        server.server_close()


# --- metrics: where and for whom


@pytest.mark.slow
def test_metrics_listen_on_this_machine_by_default_and_may_require_a_token_or_a_password():
    assert WorkerSettings.__dataclass_fields__["metrics_host"].default == "127.0.0.1"
    server = serve(0, token="s3cret")
    try:
        assert server.server_address[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": "Bearer s3cret"})
        assert b"limpyd_jobs_workers_alive" in urllib.request.urlopen(request, timeout=10).read()
    finally:
        server.shutdown()
        server.server_close()
    server = serve(0, basic_auth="prom:pass")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        wrong = base64.b64encode(b"prom:nope").decode()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Basic {wrong}"}),
                                   timeout=10)
        right = base64.b64encode(b"prom:pass").decode()
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {right}"})
        assert urllib.request.urlopen(request, timeout=10).status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_the_metrics_command_binds_127_0_0_1_by_default(capsys):
    stop = threading.Event()
    out = io.StringIO()
    thread = threading.Thread(target=admin, args=(["metrics", "--port=0"], stop, out))
    thread.start()
    try:
        for _ in range(500):
            if "serving metrics" in out.getvalue():
                break
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(10)
    assert "serving metrics on http://127.0.0.1:" in out.getvalue()


# --- control characters


def test_control_characters_of_messages_and_identifiers_are_escaped_in_the_commands(capsys, make_worker):
    def fail(job, queue):
        raise ValueError(HOSTILE)

    job = Job.add_job(identifier=f"id{HOSTILE}", queue_name="q")
    make_worker("q", callback=fail, burst=True).run()
    for argv in (["show", job.ident], ["errors", "q"], ["jobs", "q", "--state=error"], ["info"]):
        assert admin(argv) == RET_OK
        out, _ = capsys.readouterr()
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out, argv
        assert "\\x1b[31mred" in out or argv == ["info"], argv
    admin(["errors", "q"])
    row = capsys.readouterr()[0].splitlines()[1]
    assert row.endswith(("…", "over")) and "\x1b" not in row  # cut: never a bare ESC


def test_text_logs_escape_control_characters_but_keep_tracebacks_lines():
    record = logging.LogRecord("limpyd-jobs", logging.ERROR, __file__, 1, "job %s failed", (HOSTILE,), None)
    line = TextFormatter("%(message)s").format(record)
    assert line == "job " + printable(HOSTILE) + " failed" and "\x1b" not in line
    record.exc_text = "Traceback (most recent call last):\n  File 'x'\nValueError: \x1b[2J"
    assert TextFormatter("%(message)s").format(record).splitlines()[-1] == "ValueError: \\x1b[2J"


def test_printable_escapes_c0_c1_and_del():
    assert printable("a\x00b\x1bc\x7fd\x9be\tf\ng") == "a\\x00b\\x1bc\\x7fd\\x9be\\x09f\\x0ag"
    assert printable("tab\tand\nline", newlines=True) == "tab\tand\nline"
    assert KEYS.throughput(hour="2026-01-01 10") == "limpyd-jobs:throughput:2026-01-01 10"
