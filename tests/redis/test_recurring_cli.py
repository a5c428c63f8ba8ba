"""The ``limpyd-jobs-schedule`` command, and the sweeper's: redbike's configuration files, the
timefile, statuses and tell, errors, and Redis outages ridden out once running."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from limpyd_jobs import Job, Queue
from limpyd_jobs.cli.schedule import main
from limpyd_jobs.cli.sweeper import main as sweeper_main
from limpyd_jobs.constants import LOGGER_NAME
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.recurring.scheduler import RecurringSchedule, run_dispatcher, set_schedule, tell
from limpyd_jobs.testing.proxy import FaultyProxy
from limpyd_jobs.testing.server import RedisServer, free_port

pytestmark = pytest.mark.usefixtures("clock")  # every time here is the test's clock


@pytest.fixture(autouse=True)
def in_a_directory_of_its_own(tmp_path, monkeypatch):
    """Each test runs in an empty directory: no ``.redbike.conf`` but the ones it writes."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIMPYD_JOBS_PREFIX", raising=False)


@pytest.fixture
def schedule(redis_server, capsys):
    """``schedule(*args)``: run the command on the private server (``database=False``: without
    ``--database``); returns (exit code, stdout, stderr)."""
    def run(*args: str, database: bool = True) -> tuple[int, str, str]:
        code = main([f"--database=127.0.0.1:{redis_server.port}:0", *args] if database else list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def direct(redis_server):
    """A client of the private server's db 0 of its own (the command moves the models' database)."""
    client = redis_server.client(decode_responses=True)
    yield client
    client.close()


class LogEvents(logging.Handler):
    """``event(text)``: an Event set once a record holding ``text`` is logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: dict[str, threading.Event] = {}

    def event(self, text: str) -> threading.Event:
        return self.events.setdefault(text, threading.Event())

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for text, event in list(self.events.items()):
            if text in message:
                event.set()


@pytest.fixture
def log_events():
    handler, logger = LogEvents(), logging.getLogger(LOGGER_NAME)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def returns_within(seconds: float, function, *args):
    """``function(*args)``'s result, which must come within ``seconds``."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(function(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds}s"
    return result[0]


def schedule_key(job_id: str, prefix: str = "jobs") -> str:
    return KEYS.hash(model=f"{prefix}:recurringschedule", pk=job_id)


# --- copied from tests/test_recurring.py, with today's statuses format and bad schedules


def test_set_tell_schedules_statuses_dispatch_unset_and_control(tmp_path, schedule, clock):
    assert schedule("set", "report:daily", f"AT:{clock.time() + 3600}")[:2] == (0, "TML\n")
    told = json.loads(schedule("tell", "report:daily")[1])
    assert told["status"] == f"TML:{int(clock.time())}" and told["next_run"] == clock.time() + 3600
    assert schedule("schedules")[1].startswith("report:daily,AT:")
    assert schedule("statuses")[1] == f"report:daily,TML:{int(clock.time())}\r\n"
    assert schedule("statuses", f"--before={clock.time() - 3600}")[1] == ""
    csv_file = tmp_path / "schedules.csv"
    csv_file.write_text("job1:q,NOW\njob2:q,STOP\n")
    timefile = tmp_path / "timefile"
    code, out, _ = schedule("dispatch", f"--schedules={csv_file}", f"--timefile={timefile}", "--once")
    assert code == 0 and out == "0\n"  # job1 was queued by set itself, which does not wait
    assert float(timefile.read_text()) == clock.time()
    assert Queue.count_waiting_jobs("q") == 1
    assert schedule("unset", "report:daily")[0] == 0
    assert json.loads(schedule("tell", "report:daily")[1])["status"] is None
    assert schedule("control", "HALT")[0] == 0 and schedule("control", "CLEAR")[0] == 0


def test_misuse_and_our_own_config_sections(tmp_path, redis_server, capsys):
    assert main(["set", "only-a-job-id"]) == 2
    assert "usage" in capsys.readouterr().err
    assert main(["--config=/no/such/file.ini", "schedules"]) == 2
    assert "cannot read" in capsys.readouterr().err
    config = tmp_path / "schedule.ini"
    config.write_text(f"[limpyd-jobs-redis]\nhost = 127.0.0.1\nport = {redis_server.port}\ndb = 0\n"
                      "[other]\nignored = yes\n")
    assert main([f"--config={config}", "set", "a:q", "NOW"]) == 0
    assert Queue.count_waiting_jobs("q") == 1


@pytest.mark.slow
def test_an_unreachable_redis_is_named(schedule):
    port = free_port()
    code, _, err = schedule(f"--database=127.0.0.1:{port}:0", "schedules", database=False)
    assert code == 3 and f"127.0.0.1:{port} db 0" in err


# --- set: the timefile, bad schedules, timeouts


def test_set_computes_the_next_run_after_the_time_in_the_timefile(tmp_path, schedule, clock):
    timefile = tmp_path / "timefile"
    timefile.write_text(f"{clock.time() - 3600:.0f}\n")  # the dispatcher stopped an hour ago
    missed = f"AT:{clock.time() - 1800}"  # due while no dispatcher ran
    assert schedule("set", "a:q", missed, f"--timefile={timefile}")[:2] == (0, "ENQ\n")  # runs now
    assert Queue.count_waiting_jobs("q") == 1
    (tmp_path / "schedule.ini").write_text(f"[redbike]\ntimefile = {timefile}\n")
    assert schedule("--config=schedule.ini", "set", "b:q", missed)[:2] == (0, "ENQ\n")
    # --after overrides the timefile; without one, the next run comes after now
    assert schedule("set", "c:q", missed, f"--timefile={timefile}", f"--after={clock.time()}")[1] == "STP\n"
    assert schedule("set", "d:q", missed)[1] == "STP\n"
    assert schedule("set", "e:q", missed, f"--timefile={tmp_path / 'none'}")[1] == "STP\n"


def test_a_timefile_ahead_of_now_does_not_delay_what_is_due_now(tmp_path, schedule, clock):
    timefile = tmp_path / "timefile"
    timefile.write_text(f"{clock.time() + 30:.0f}\n")  # written by a host whose clock is ahead
    assert schedule("set", "a:q", "NOW", f"--timefile={timefile}")[:2] == (0, "ENQ\n")


def test_a_timefile_without_a_timestamp_is_said_and_now_is_used(tmp_path, schedule, clock, caplog):
    timefile = tmp_path / "timefile"
    timefile.write_text("")
    assert schedule("set", "a:q", f"AT:{clock.time() - 1800}", f"--timefile={timefile}")[1] == "STP\n"
    assert "holds no timestamp" in caplog.text


def test_a_bad_schedule_is_refused_with_the_parsers_reason_and_the_one_in_place_stays(schedule, clock,
                                                                                      tmp_path):
    assert schedule("set", "a:q", f"AT:{clock.time() + 60}")[0] == 0
    code, out, err = schedule("set", "a:q", "RRULE:FREQ=SOMETIMES")
    assert (code, out) == (2, "")
    assert err.startswith("limpyd-jobs-schedule: error: 'RRULE:FREQ=SOMETIMES' is not NOW, AT:<timestamp>")
    assert err.count("\n") == 1
    assert tell("a:q")["schedule"] == f"AT:{clock.time() + 60}"  # the schedule in place stays
    code, _, err = schedule("set", "b:q", "WHENEVER")
    assert code == 2 and "'WHENEVER' is not NOW" in err
    assert tell("b:q")["status"] is None  # nothing recorded
    code, _, err = schedule("set", "c:q", "NOW", "--tz=Mars/Olympus")
    assert code == 2 and "unknown time zone 'Mars/Olympus'" in err and tell("c:q")["status"] is None
    csv_file = tmp_path / "schedules.csv"
    csv_file.write_text("d:q,NOW\n# a comment\ne:q,EVERY TUESDAY\n")
    code, _, err = schedule("dispatch", f"--schedules={csv_file}", "--once")
    assert code == 2 and "line 3" in err and "EVERY TUESDAY" in err
    assert tell("d:q")["status"] is None  # checked before any is set


def test_the_timeout_of_set_comes_from_the_option_else_the_configurations_default_timeout(schedule, tmp_path):
    def timeout_of(job_id):
        return RecurringSchedule(job_id).timeout.hget()

    assert schedule("set", "a:q", "CONTINUE")[0] == 0
    assert timeout_of("a:q") in ("", None)  # the library's default (10 s)
    (tmp_path / ".redbike.conf").write_text("[redbike]\ndefault-timeout = 25\n")
    assert schedule("set", "b:q", "CONTINUE")[0] == 0
    assert float(timeout_of("b:q")) == 25
    assert schedule("set", "c:q", "CONTINUE", "--timeout=3.5")[0] == 0
    assert float(timeout_of("c:q")) == 3.5
    (tmp_path / "schedules.csv").write_text("d:q,CONTINUE\n")
    assert schedule("dispatch", "--schedules=schedules.csv", "--once")[0] == 0
    assert float(timeout_of("d:q")) == 25
    code, _, err = schedule("set", "e:q", "CONTINUE", "--timeout=0")
    assert code == 2 and "--timeout" in err


# --- configuration files: redbike's and ours


def test_redbike_conf_in_the_current_directory_is_read_by_default(tmp_path, redis_server, direct, capsys):
    (tmp_path / ".redbike.conf").write_text(
        f"[redbike]\nworker = myapp.workers:Worker('A:B')\n"  # redbike's worker: not used here
        f"[redbike-redis]\nhost = 127.0.0.1\nport = {redis_server.port}\ndb = 1\n"
        "[myapp]\nanything = else\n")
    in_db_1 = redis_server.client(db=1, decode_responses=True)
    try:
        assert main(["set", "a:q", "CONTINUE"]) == 0  # REDIS_URL says db 0: the file wins
        assert in_db_1.exists(schedule_key("a:q")) and not direct.exists(schedule_key("a:q"))
    finally:
        in_db_1.flushdb()
        in_db_1.close()


def test_a_redbike_redis_section_takes_strictredis_arguments(tmp_path, capsys):
    socket_dir = tempfile.mkdtemp(prefix="lj-")  # short: a socket path is at most ~100 bytes
    socket_path = os.path.join(socket_dir, "redis.sock")
    server = RedisServer(arguments=["--unixsocket", socket_path, "--unixsocketperm", "700",
                                    "--requirepass", "s3cret"], client_options={"password": "s3cret"})
    with server:
        (tmp_path / "bike.conf").write_text(
            f"[redbike-redis]\nunix_socket_path = {socket_path}\npassword = s3cret\ndb = 2\n"
            "socket_timeout = 5\nsocket_keepalive = yes\n")
        assert main(["--config=bike.conf", "set", "a:q", "CONTINUE"]) == 0
        assert server.client(db=2).exists(schedule_key("a:q"))
    shutil.rmtree(socket_dir, ignore_errors=True)


def test_our_sections_win_over_redbikes(tmp_path, redis_server, schedule, clock):
    timefile = tmp_path / "timefile"
    timefile.write_text(f"{clock.time() - 3600:.0f}\n")
    (tmp_path / "both.ini").write_text(
        f"[redbike]\ntimefile = {tmp_path / 'none'}\ndefault-timeout = 5\n"
        f"[limpyd-jobs-schedule]\ntimefile = {timefile}\ndefault_timeout = 7\n"
        "[redbike-redis]\nport = 1\n"
        f"[limpyd-jobs-redis]\nurl = redis://127.0.0.1:{redis_server.port}/0\n")
    code, out, _ = schedule("--config=both.ini", "set", "a:q", f"AT:{clock.time() - 1800}", database=False)
    assert (code, out) == (0, "ENQ\n")  # our timefile, our connection
    assert float(RecurringSchedule("a:q").timeout.hget()) == 7


@pytest.mark.parametrize("content, said", [
    ("[myapp]\nhost = 127.0.0.1\n", "has none of the sections [redbike], [redbike-redis]"),
    ("host = 127.0.0.1\n", "is not an INI file"),
    (b"\xff\xfe[redbike]\n", "is not an INI file"),
    ("[redbike-redis]\nhots = 127.0.0.1\n", "[redbike-redis] has an unknown key 'hots'"),
    ("[redbike-redis]\nport = sixty\n", "[redbike-redis] port:"),
    ("[redbike]\ndefault-timeout = -1\n", "[redbike] default-timeout: a duration is a number of seconds"),
    ("[redbike]\nprefix = my app\n", "[redbike] prefix:"),
    ("[redbike]\ntimefle = /tmp/x\n", "unknown key 'timefle'"),
])
def test_a_configuration_that_cannot_be_used_is_an_error_not_a_fallback(tmp_path, schedule, direct, content,
                                                                        said):
    path = tmp_path / ".redbike.conf"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    code, out, err = schedule("set", "a:q", "NOW", database=False)  # REDIS_URL would work
    assert (code, out) == (2, "")
    assert err.startswith("limpyd-jobs-schedule: error: configuration '.redbike.conf'") and said in err
    assert err.count("\n") == 1
    assert direct.dbsize() == 0


@pytest.mark.slow
def test_a_prefix_in_the_configuration_puts_every_key_under_it(tmp_path, redis_server, direct):
    (tmp_path / ".redbike.conf").write_text(
        f"[redbike]\nprefix = myapp\n[redbike-redis]\nhost = 127.0.0.1\nport = {redis_server.port}\n")
    script = Path(sys.executable).parent / "limpyd-jobs-schedule"
    command = [str(script)] if script.exists() else [sys.executable, "-c",
                                                     "from limpyd_jobs.cli.schedule import entry_point; "
                                                     "entry_point()"]
    environment = {name: value for name, value in os.environ.items() if name != "LIMPYD_JOBS_PREFIX"}
    done = subprocess.run([*command, "set", "report:q", "NOW"], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=60)
    said = ("report:q: 'STOP' set, its run queued now; queue q, priority 0, timeout 10s (the default), "
            "on error die\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "ENQ\n", said)
    keys = direct.keys("*")
    assert schedule_key("report:q", prefix="myapp") in keys
    assert keys and all(key.startswith("myapp:") for key in keys)  # models and our keys alike


def test_a_prefix_this_process_cannot_take_any_more_is_an_error(tmp_path, schedule, direct):
    (tmp_path / ".redbike.conf").write_text("[redbike]\nprefix = myapp\n")
    code, _, err = schedule("set", "a:q", "NOW")
    assert code == 2 and "LIMPYD_JOBS_PREFIX=myapp" in err
    assert direct.dbsize() == 0


# --- statuses, tell, the package


def test_statuses_read_jobid_event_colon_timestamp_or_three_columns(schedule, clock):
    set_schedule("a:q", f"AT:{clock.time() + 60}")
    set_schedule("b,c:q", "STOP")
    stamp = int(clock.time())
    assert schedule("statuses")[1] == f"a:q,TML:{stamp}\r\n\"b,c:q\",STP:{stamp}\r\n"
    assert schedule("statuses", "--format=columns")[1] == f"a:q,TML,{stamp}\r\n\"b,c:q\",STP,{stamp}\r\n"


def test_tell_gives_the_next_run_in_iso_8601_in_utc_and_in_the_schedules_time_zone(schedule):
    def told(job_id):
        return json.loads(schedule("tell", job_id)[1])

    daily = "DTSTART:20260101T090000\nRRULE:FREQ=DAILY"
    assert schedule("set", "paris:q", daily, "--tz=Europe/Paris")[0] == 0
    paris = told("paris:q")
    assert paris["next_run"] == 1767254400.0  # kept
    assert (paris["next_run_utc"], paris["next_run_local"]) == ("2026-01-01T08:00:00+00:00",
                                                                 "2026-01-01T09:00:00+01:00")
    assert schedule("set", "york:q", f"DTSTART;TZID=America/New_York:{daily[8:]}")[0] == 0
    york = told("york:q")
    assert (york["next_run_utc"], york["next_run_local"]) == ("2026-01-01T14:00:00+00:00",
                                                              "2026-01-01T09:00:00-05:00")
    assert schedule("set", "plain:q", "AT:1767229200")[0] == 0
    plain, unknown = told("plain:q"), told("none:q")
    assert (plain["next_run_utc"], plain["next_run_local"]) == ("2026-01-01T01:00:00+00:00", None)
    assert (unknown["next_run_utc"], unknown["next_run_local"]) == (None, None)


def test_set_of_an_rrule_without_dtstart_runs_at_the_whole_minute(schedule, clock):
    clock.advance(10 * 3600 + 17 * 60 + 29)  # 10:17:29
    assert schedule("set", "report:q", "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0")[:2] == (0, "TML\n")
    assert json.loads(schedule("tell", "report:q")[1])["next_run_utc"] == "2026-01-02T09:00:00+00:00"


@pytest.mark.slow
def test_the_recurring_package_exports_its_api_without_importing_the_worker():
    code = ("import sys\n"
            "from limpyd_jobs.recurring import (StopWork, UnsetJob, set_schedule, unset_schedule, dispatch, "
            "tell, control, statuses, schedules, RecurringJob, RecurringSchedule)\n"
            "assert issubclass(RecurringJob, __import__('limpyd_jobs').Job)\n"
            "assert not [name for name in sys.modules if name.startswith('limpyd_jobs.workers')]\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- the dispatcher and the sweeper: Redis must answer at start, then outages are ridden out


@pytest.mark.slow
def test_the_dispatcher_exits_3_on_one_line_when_redis_does_not_answer_at_start(schedule):
    port = free_port()
    code, _, err = returns_within(10, lambda: schedule(f"--database=127.0.0.1:{port}:0", "dispatch",
                                                       database=False))
    assert code == 3
    assert err.startswith(f"limpyd-jobs-schedule: error: cannot connect to Redis at 127.0.0.1:{port} db 0")
    assert err.count("\n") == 1


@pytest.mark.slow
def test_the_sweeper_exits_3_on_one_line_when_redis_does_not_answer_at_start(capsys):
    port = free_port()
    assert returns_within(10, sweeper_main, [f"--database=127.0.0.1:{port}:0"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"limpyd-jobs-sweeper: error: cannot connect to Redis at 127.0.0.1:{port} db 0")
    assert err.count("\n") == 1


def test_the_dispatcher_rides_out_an_outage_then_dispatches_a_due_run(redis_server, database, direct, clock,
                                                                     log_events, threads, capsys):
    set_schedule("report:q", f"AT:{clock.time() + 60}")
    waiting = Queue.get_queue("q").waiting.key
    started, outage = log_events.event("dispatching due runs every"), log_events.event("Redis unavailable")
    codes = []
    with FaultyProxy(redis_server.port) as proxy:
        threads.start(lambda: codes.append(main([f"--database=127.0.0.1:{proxy.port}:0", "dispatch",
                                                 "--interval=0.05"])))
        assert started.wait(10)
        proxy.reset(times=-1)  # from now on every request is cut: Redis is gone
        assert outage.wait(10)
        clock.advance(61)  # the run comes due during the outage
        proxy.calm()  # Redis is back
        assert direct.blpop([waiting], timeout=10) is not None  # dispatched
        direct.set(KEYS.control(), "HALT")
        threads.join()
    assert codes == [0]
    database.reset(host="127.0.0.1", port=redis_server.port, db=0)
    assert tell("report:q")["status"].startswith("ENQ:")


def test_the_sweeper_rides_out_an_outage_then_gives_back_a_lost_job(redis_server, database, direct,
                                                                    make_worker, log_events, threads):
    started = log_events.event("giving back the jobs of workers")
    outage = log_events.event("Redis unavailable")
    stop, codes = threading.Event(), []
    with FaultyProxy(redis_server.port) as proxy:
        threads.start(lambda: codes.append(sweeper_main([f"--database=127.0.0.1:{proxy.port}:0",
                                                         "--recovery-delay=0.05"], stop=stop)))
        assert started.wait(10)
        proxy.reset(times=-1)
        assert outage.wait(10)
        proxy.calm()
        database.reset(host="127.0.0.1", port=redis_server.port, db=0)  # this test's own writes: direct
        job = Job.add_job(identifier="job:1", queue_name="q")
        dead = make_worker()
        dead.update_keys()
        assert dead.wait_for_job() is not None  # taken...
        direct.zadd(KEYS.workers(), {dead.id: 0})  # ...by a worker that stopped beating long ago
        assert direct.blpop([Queue.get_queue("q").waiting.key], timeout=10)[1] == job.ident  # given back
        stop.set()
        threads.join()
    assert codes == [0]


def test_a_timefile_that_cannot_be_written_any_more_does_not_stop_the_dispatcher(tmp_path, clock, direct,
                                                                                log_events, threads):
    with pytest.raises(OSError):  # at start: a misconfiguration, said at once
        run_dispatcher(timefile=str(tmp_path / "missing" / "timefile"), once=True)
    directory = tmp_path / "state"
    directory.mkdir()
    timefile = directory / "timefile"
    set_schedule("report:q", f"AT:{clock.time() + 60}")
    waiting = Queue.get_queue("q").waiting.key
    failing, again = log_events.event("cannot write the timefile"), log_events.event("is written again")
    stop = threading.Event()
    threads.start(run_dispatcher, 0.05, str(timefile), False, stop)
    try:
        for _ in range(400):  # bounded: the first tick writes it
            if timefile.exists():
                break
            stop.wait(0.05)
        directory.rename(tmp_path / "gone")  # gone at once: no rmtree racing a write
        assert failing.wait(10)
        clock.advance(61)
        assert direct.blpop([waiting], timeout=10) is not None  # dispatching went on
        directory.mkdir()
        assert again.wait(10)
        assert float(timefile.read_text()) == clock.time()
        assert not list(directory.glob("*.tmp"))
    finally:
        stop.set()
    threads.join()


# --- first hour: options after the subcommand, what set and unset did, readable statuses


def test_database_and_config_are_accepted_after_the_subcommand(redis_server, capsys, direct):
    Path("bike.conf").write_text("[redbike]\ndefault-timeout = 4\n")
    database = f"--database=127.0.0.1:{redis_server.port}:0"
    assert main(["set", "a:q", "CONTINUE", database, "--config=bike.conf"]) == 0
    assert capsys.readouterr().out == "ENQ\n"
    assert direct.hget(KEYS.hash(model=RecurringSchedule._name, pk="a:q"), "timeout") == "4.0"
    assert main(["tell", "a:q", database]) == 0
    assert json.loads(capsys.readouterr().out)["schedule"] == "CONTINUE"


def test_set_says_what_it_set_and_unset_what_it_removed(schedule, clock):
    code, out, err = schedule("set", "report:q", f"AT:{clock.time() + 3600}", "--on-error=continue")
    when = time_text(clock.time() + 3600)
    assert (code, out) == (0, "TML\n")
    assert err == (f"report:q: 'AT:{clock.time() + 3600}' set, next run {when}; queue q, priority 0, "
                   "timeout 10s (the default), on error continue\n")
    assert json.loads(schedule("tell", "report:q")[1])["on_error"] == "continue"
    removed = f"report:q: schedule 'AT:{clock.time() + 3600}' removed\n"
    assert schedule("unset", "report:q") == (0, "", removed)
    assert schedule("unset", "report:q") == (0, "", "report:q: no schedule to remove\n")


def test_statuses_read_as_times_in_utc_with_format_readable(schedule, clock):
    schedule("set", "a:q", f"AT:{clock.time() + 60}")
    assert schedule("statuses", "--format=readable")[1] == f"a:q  TML  {time_text(int(clock.time()))}\n"


def time_text(timestamp):
    from datetime import datetime, timezone
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
