"""The limpyd-jobs command: its tables and JSON, its writes, its errors and exit codes, and read
commands that write nothing."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading

import pytest
import tomllib
from helpers import ROOT, Tracker, tracked_worker

from limpyd_jobs import STATUSES, Job, Queue
from limpyd_jobs import operations as ops
from limpyd_jobs.cli.admin import READ_COMMANDS, main, table
from limpyd_jobs.cli.common import RET_CONNECT, RET_ERROR, RET_OK, RET_USAGE
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.protocol.scripts import beat
from limpyd_jobs.testing.server import free_port

COMMAND = [sys.executable, "-m", "limpyd_jobs.cli.admin"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    assert err.startswith("limpyd-jobs: error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def filled(clock, make_worker):
    """images (priorities 1, 0, -1): 2 successes, 1 job failed twice (ERROR), 1 waiting, 1 delayed;
    emails: 1 waiting, paused; worker w1 beating for images,emails."""
    def callback(job, queue):
        if job.identifier.hget() == "photo:bad":
            raise ValueError("cannot read photo:bad")

    for identifier in ("photo:1", "photo:2"):
        Job.add_job(identifier=identifier, queue_name="images", priority=1)
    bad = Job.add_job(identifier="photo:bad", queue_name="images")  # fails at 0, then at -1
    make_worker("images", callback=callback, burst=True, requeue_times=1, requeue_delay_delta=0,
                fetch_priorities_delay=0).run()
    waiting = Job.add_job(identifier="photo:3", queue_name="images")
    delayed = Job.add_job(identifier="photo:4", queue_name="images", delayed_for=3600)
    Job.add_job(identifier="mail:1", queue_name="emails")
    ops.pause("emails")
    beat.call(Job.database, worker="w1", now_score=clock.time(),
              fields={"host": "web1", "pid": 4242, "queues": "images,emails", "mode": "inprocess",
                      "started": "2026-01-01 00:00:00"})
    return {"bad": bad, "waiting": waiting, "delayed": delayed}


def test_the_entry_point_is_declared_and_help_lists_every_command(capsys):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["limpyd-jobs"] == "limpyd_jobs.cli.main:run"
    code, out, _ = run(capsys, "--help")
    assert code == RET_OK
    for command in ("info", "queues", "workers", "jobs", "show", "errors", "requeue", "cancel", "empty",
                    "pause", "resume", "stop-workers", "health"):
        assert command in out
    code, _, err = run(capsys)
    assert code == RET_USAGE and "required: COMMAND" in err


def test_table_aligns_columns():
    assert table(("A", "NUMBER"), [("long name", 3), ("x", 12)], right=(1,)) == (
        "A          NUMBER\n"
        "long name       3\n"
        "x              12")


def test_info_shows_queues_by_state_and_workers_in_aligned_tables(capsys, filled):
    code, out, err = run(capsys, "info")
    assert code == RET_OK and err == ""
    queues, workers = out.strip().split("\n\n")
    assert queues.splitlines() == [
        "QUEUE   PRIORITIES  WAITING  DELAYED  RUNNING  SUCCESS  ERROR  CANCELED",
        "emails  0                 1        0        0        0      0         0  paused",
        "images  1,0,-1            1        1        0        2      2         0",
    ]
    assert workers.splitlines() == [
        "WORKER  HOST   PID  QUEUES         MODE       STATE  LAST BEAT  RUNNING",
        "w1      web1  4242  images,emails  inprocess  alive  0s ago     -",
    ]


def test_read_commands_write_json_on_demand(capsys, filled):
    code, out, _ = run(capsys, "info", "--json")
    data = json.loads(out)
    assert code == RET_OK
    images = next(queue for queue in data["queues"] if queue["name"] == "images")
    states = ("priorities", "waiting", "delayed", "running", "success", "error", "paused")
    assert [images[state] for state in states] == [[1, 0, -1], 1, 1, 0, 2, 2, False]
    assert data["workers"][0] | {"running": None} == {
        "id": "w1", "host": "web1", "pid": 4242, "queues": ["images", "emails"], "mode": "inprocess",
        "started": "2026-01-01T00:00:00+00:00", "last_beat": "2026-01-01T00:00:00+00:00", "alive": True,
        "stopping": False, "running": None}
    assert [queue["name"] for queue in json.loads(run(capsys, "queues", "--json")[1])] == ["emails", "images"]
    assert json.loads(run(capsys, "workers", "--json")[1])[0]["id"] == "w1"
    failed, again = json.loads(run(capsys, "jobs", "images", "--state=error", "--json")[1])  # a run each
    assert again == failed
    assert (failed["ident"], failed["status"], failed["tries"], failed["priority"], failed["queue"]) == (
        filled["bad"].ident, "ERROR", 2, -1, "images")
    shown = json.loads(run(capsys, "show", "images/photo:bad", "--json")[1])
    assert shown["ident"] == filled["bad"].ident and len(shown["errors"]) == 2
    assert [event["event"] for event in shown["history"]] == ["added", "started", "failed", "requeued",
                                                               "started", "failed"]
    assert shown["errors"][0]["type"] == "ValueError" and "Traceback" in shown["errors"][0]["traceback"]
    (listed,) = json.loads(run(capsys, "errors", "images", "--json")[1])
    assert listed["last_error"]["message"] == "cannot read photo:bad"
    health = json.loads(run(capsys, "health", "--queues=images", "--json")[1])
    assert health == {"ok": True, "redis": True, "message": "Redis answers, 1 worker(s) beating",
                      "alive_workers": 1}


def test_jobs_lists_a_page_of_a_state(capsys, filled):
    code, out, _ = run(capsys, "jobs", "images", "--state=delayed")
    assert code == RET_OK
    assert out.splitlines() == [
        "IDENT                     IDENTIFIER  STATUS   PRIORITY  TRIES  DUE",
        f"{filled['delayed'].ident}  photo:4     DELAYED         0      0  2026-01-01 01:00:00 UTC",
    ]
    code, out, _ = run(capsys, "jobs", "images", "--state=success", "--limit=1", "--offset=1")
    assert len(out.splitlines()) == 2 and "photo:1" in out
    assert run(capsys, "jobs", "emails", "--state=running")[1] == "no running job\n"


def test_show_and_errors_tell_why_a_job_failed(capsys, filled):
    code, out, _ = run(capsys, "show", filled["bad"].ident)
    assert code == RET_OK
    lines = out.splitlines()
    assert lines[:5] == [f"ident       {filled['bad'].ident}", "identifier  photo:bad", "status      ERROR",
                         "queue       images", "priority    -1"]
    assert "errors: 2" in lines and "history: 6 event(s)" in lines
    assert "  2026-01-01 00:00:00 UTC  requeued  priority=-1 queue=images" in lines  # its retry
    assert "#2 2026-01-01 00:00:00 UTC ValueError: cannot read photo:bad" in lines
    for field in ("added", "start", "end"):  # every time to the second, with its zone
        assert f"{field.ljust(10)}  2026-01-01 00:00:00 UTC" in lines
    assert "    ValueError: cannot read photo:bad" in lines  # the traceback's last line, indented
    code, out, _ = run(capsys, "errors", "images")
    assert out.splitlines()[:2] == [
        "IDENT                     IDENTIFIER  TRIES  ENDED                    LAST ERROR",
        f"{filled['bad'].ident}  photo:bad       2  2026-01-01 00:00:00 UTC  "
        "ValueError: cannot read photo:bad",
    ]


def test_write_commands_act_and_say_what_they_did(capsys, filled, connection):
    code, out, _ = run(capsys, "requeue", "images", "--all")
    assert (code, out) == (RET_OK, "1 failed job(s) of images requeued\n")
    assert filled["bad"].status.hget() == STATUSES.WAITING and filled["bad"].tries.hget() == "0"
    code, out, _ = run(capsys, "cancel", "images/photo:bad", filled["delayed"].ident)
    assert code == RET_OK and out.splitlines() == [
        f"{filled['bad'].ident} (WAITING) canceled", f"{filled['delayed'].ident} (DELAYED) canceled"]
    assert run(capsys, "empty", "images")[1] == "queue images emptied: 1 job(s) canceled\n"
    assert filled["waiting"].status.hget() == STATUSES.CANCELED
    assert run(capsys, "pause", "images")[1] == "queue images paused\n"
    assert run(capsys, "pause", "images")[1] == "queue images was paused already\n"
    assert run(capsys, "resume", "images")[1] == "queue images resumed\n"
    assert ops.paused() == {"emails"}
    assert run(capsys, "stop-workers", "w1")[1] == "asked 1 worker(s) to stop after their current job: w1\n"
    assert connection.get(KEYS.worker_control(worker="w1")) == "STOP"
    assert "stopping" in run(capsys, "workers")[1]


def test_requeue_one_job_and_refusals(capsys, filled):
    code, out, err = run(capsys, "requeue", "images")
    assert code == RET_USAGE and "is a queue: `requeue images --all`" in one_error_line(err)
    code, out, err = run(capsys, "requeue", "--front", "images/photo:bad", filled["waiting"].ident)
    assert code == RET_ERROR and out == f"requeued {filled['bad'].ident} in images\n"
    assert "is WAITING: only a failed job (ERROR) can be requeued" in one_error_line(err)
    assert Queue.get_queue("images", -1).waiting.lmembers() == [filled["bad"].ident]  # where it failed


@pytest.mark.parametrize("argv, message", [
    (["jobs", "nope"], "no queue named 'nope'"),
    (["errors", "nope"], "no queue named 'nope'"),
    (["empty", "nope"], "no queue named 'nope'"),
    (["pause", "nope"], "no queue named 'nope'"),
    (["resume", "nope"], "no queue named 'nope'"),
    (["requeue", "nope", "--all"], "no queue named 'nope'"),
    (["show", "not a job"], "names no job"),
    (["show", "limpyd_jobs.models.Job:999"], "no job limpyd_jobs.models.Job:999"),
    (["show", "images/photo:999"], "no job 'photo:999' in queue 'images'"),
    (["show", "myapp.jobs.Resize:1"], "'myapp.jobs.Resize' is not a registered Job model"),
    (["stop-workers", "w1", "w9"], "no registered worker w9"),
    (["requeue", "a", "b", "--all"], "requeue --all takes one QUEUE"),
])
def test_bad_input_is_one_line_and_exit_code_2(capsys, filled, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == RET_USAGE and out == ""
    assert message in one_error_line(err)


def test_an_unknown_job_among_several_stops_before_anything_is_done(capsys, filled):
    code, _, err = run(capsys, "cancel", filled["waiting"].ident, "images/photo:999")
    assert code == RET_USAGE and "photo:999" in one_error_line(err)
    assert filled["waiting"].status.hget() == STATUSES.WAITING


def test_a_finished_job_cannot_be_canceled_exit_code_1(capsys, filled):
    done = ops.jobs("images", "success")[0]
    code, out, err = run(capsys, "cancel", done.ident)
    assert code == RET_ERROR and out == ""
    assert "is SUCCESS: a finished job cannot be canceled" in one_error_line(err)


@pytest.mark.slow
def test_health_exit_codes(capsys, clock, redis_server):
    assert run(capsys, "health") == (RET_OK, "healthy: Redis answers, 0 worker(s) beating\n", "")
    code, out, _ = run(capsys, "health", "--queues=images")
    assert (code, out) == (RET_ERROR, "unhealthy: no worker beating for queue(s) images\n")
    beat.call(Job.database, worker="w1", now_score=clock.time(), fields={"queues": "images"})
    assert run(capsys, "health", "--queues=images", "--worker=w1")[0] == RET_OK
    clock.advance(20)
    assert run(capsys, "health", "--worker=w1", "--heartbeat-timeout=10") == (
        RET_ERROR, "unhealthy: worker w1 has not beaten for 10s\n", "")
    assert run(capsys, "health", "--worker=w1", "--heartbeat-timeout=0")[0] == RET_USAGE
    down = subprocess.run([*COMMAND, f"--database=127.0.0.1:{free_port()}:0", "health"],
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == RET_CONNECT and down.stdout == ""
    assert "cannot connect to Redis at 127.0.0.1" in one_error_line(down.stderr)


@pytest.mark.slow
def test_an_unreachable_redis_is_exit_code_3_for_every_command():
    for argv in (["info"], ["cancel", "q/x"]):
        result = subprocess.run([*COMMAND, *argv], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
        assert result.returncode == RET_CONNECT and result.stdout == ""
        one_error_line(result.stderr)


def _snapshot(connection) -> dict[str, tuple[bytes, bool]]:
    """Every key: its value (DUMP), and whether it expires."""
    raw = connection.connection_pool.connection_kwargs
    client = type(connection)(host=raw["host"], port=raw["port"], db=raw.get("db", 0))
    try:
        return {key: (client.dump(key), client.pttl(key) >= 0) for key in client.keys("*")}
    finally:
        client.close()


def test_read_commands_write_nothing(capsys, filled, connection, round_trips, running):
    tracker, go = Tracker(), threading.Event()
    Job.add_job(identifier="long", queue_name="images", priority=5)
    worker = tracked_worker(tracker, lambda job, queue: tracker.gate(go), queues="images",
                            heartbeat_interval=1000, heartbeat_timeout=3000)  # no beat meanwhile
    running.start(worker)
    tracker.wait_for(lambda: tracker.blocked == 1)  # a job RUNNING, its worker registered
    try:
        _read_commands_write_nothing(capsys, connection, round_trips)
    finally:
        go.set()


def _read_commands_write_nothing(capsys, connection, round_trips) -> None:
    commands = [["info"], ["info", "--json"], ["queues"], ["workers"], ["health", "--queues=images"],
                ["show", "images/photo:bad"], ["show", "images/long", "--json"], ["errors", "images"]]
    commands += [["jobs", "images", f"--state={state}"] for state in ops.STATES]
    assert {argv[0] for argv in commands} == set(READ_COMMANDS)
    before = _snapshot(connection)
    with round_trips() as trips:
        for argv in commands:
            assert run(capsys, *argv)[0] == RET_OK, argv
    assert _snapshot(connection) == before
    sent = {name.lower() for name in trips.commands}
    assert {"ping", "hgetall", "hmget", "lrange", "llen", "zrange", "smembers"} <= sent  # it did read
    flags = connection.execute_command("COMMAND", "INFO", *sent)
    writes = [name for name in sent if "write" in flags[name]["flags"]]
    assert writes == [] and not sent & {"eval", "evalsha", "script", "fcall"}


def test_info_watch_shows_frames_until_stopped(filled):
    stop = threading.Event()

    class Screen(io.StringIO):
        def flush(self) -> None:  # a frame is written, then flushed
            if self.getvalue().count("Every 0.01s:") == 3:
                stop.set()

    screen = Screen()
    assert main(["info", "--watch=0.01"], stop=stop, out=screen) == RET_OK
    frames = screen.getvalue().split("Every 0.01s: limpyd-jobs info")[1:]
    assert len(frames) == 3
    assert all("images  1,0,-1" in frame and "w1      web1" in frame for frame in frames)
    assert "\x1b[2J" not in screen.getvalue()  # not a terminal: frames follow each other


@pytest.mark.slow
def test_info_watch_in_a_process_ends_on_ctrl_c(filled, redis_server):
    process = subprocess.Popen([*COMMAND, "info", "--watch", "0.05", "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = [process.stdout.readline() for _ in range(2)]  # two frames, one JSON object each
        assert all(json.loads(line)["workers"][0]["id"] == "w1" for line in lines)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == RET_OK
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        process.stdout.close()
        process.stderr.close()


def test_database_option_names_the_redis(capsys, redis_server):
    Job.add_job(identifier="x", queue_name="elsewhere")
    code, out, _ = run(capsys, "queues", f"--database=127.0.0.1:{redis_server.port}:0")
    assert code == RET_OK and out.startswith("QUEUE") and "elsewhere" in out
    code, _, err = run(capsys, "--database=host:port:db", "queues")
    assert code == RET_USAGE and "--database" in one_error_line(err)



def test_info_counts_canceled_jobs_and_names_running_jobs_by_identifier(capsys, filled):
    from helpers import BusyWorker

    run(capsys, "cancel", filled["waiting"].ident)
    busy = BusyWorker("reports", "report:monthly")
    try:
        code, out, _ = run(capsys, "info")
        queues, workers = out.strip().split("\n\n")
        assert queues.splitlines()[2].split() == ["images", "1,0,-1", "0", "1", "0", "2", "2", "1"]
        running = next(line for line in workers.splitlines() if line.startswith(busy.worker.id))
        assert running.endswith("report:monthly (0s)") and busy.job.ident not in running
    finally:
        busy.release()
