"""``limpyd-jobs-worker --processes=N``: the pool of worker processes (limpyd_jobs.cli.pool).

Real runs start the command as a subprocess in a process group of its own (killed in a
``finally``), its logs written to a file; they wait for events (log lines, the registry, Redis
keys) with a deadline, never for a fixed time. The restart logic is driven step by step with a
clock of the test's own, and no process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import TESTS_DIR, wait_until

from limpyd_jobs import STATUSES, Job, Queue
from limpyd_jobs.cli.common import RET_CONNECT, RET_IMPORT, RET_USAGE
from limpyd_jobs.cli.config import OPTIONS, SEED_ORDER, WorkerConfig, environment_variable, make_parser
from limpyd_jobs.cli.pool import Backoff, Report, Slot, WorkerPool, describe_exit
from limpyd_jobs.cli.worker import main
from limpyd_jobs.testing.server import RedisServer, free_port
from limpyd_jobs.workers import Worker

PREFIX = "limpyd-jobs-worker: error: "


#: This module's folder, on the path of the pools it starts (``--pythonpath`` gives them TESTS_DIR).
HERE = str(Path(__file__).resolve().parent)

# --- callbacks run by the pool's children (``--callback=test_pool.<name>``)


def meet_then_record(job: Job, queue: Queue) -> None:
    """Note this process, wait (20 s at most) until two processes did, then record the execution:
    the first jobs are run by two processes at once, whatever the speed of either."""
    connection = job.get_connection()
    connection.sadd("meeting", os.getpid())
    deadline = time.monotonic() + 20
    while connection.scard("meeting") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    connection.rpush("executions", f"{job.identifier.hget()}:{os.getpid()}")


class RefusingWorker(Worker):
    """A worker class whose own default the worker refuses when one is made (the command's parser
    does not read it)."""

    max_loops = "many"


# --- helpers


@pytest.fixture(autouse=True)
def no_option_in_the_environment(monkeypatch):
    """Start without any LIMPYD_JOBS_<OPTION> variable (the user's would change the options)."""
    for setting in OPTIONS:
        monkeypatch.delenv(environment_variable(setting), raising=False)


class PoolProcess:
    """``limpyd-jobs-worker ARGS`` run as a subprocess, in a process group of its own, its logs
    (stdout and stderr) in a file; ``close()`` kills what is left of the group."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")
        env = {name: value for name, value in os.environ.items() if not name.startswith("LIMPYD_JOBS_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "limpyd_jobs.cli.worker", *args], stdout=self._log,
            stderr=subprocess.STDOUT, env={**env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": HERE},
            start_new_session=True)
        self.pid = self.process.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log().splitlines() if text in line]

    def await_lines(self, text: str, count: int = 1, timeout: float = 30) -> list[str]:
        """The log lines holding ``text``, once there are ``count`` of them."""
        return wait_until(lambda: len(self.lines(text)) >= count and self.lines(text), timeout,
                          lambda: f"{count} log line(s) with {text!r}; log:\n{self.log()}")

    def child_pids(self) -> list[int]:
        """The pids of the children the pool said it started, in order."""
        return [int(line.split("(pid ")[1].rstrip(")")) for line in self.lines("[pool] worker process")
                if " started" in line]

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout)

    def group_is_empty(self) -> bool:
        """No process is left in the pool's process group (the pool and every child are gone)."""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return True
        return False

    def close(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(10)
        finally:
            self._log.close()


@pytest.fixture
def start_pool(redis_server, tmp_path):
    """``start_pool(*args)``: the command with ``args`` and the tests' Redis and modules; every pool
    started is killed, with its children, at the end of the test."""
    started: list[PoolProcess] = []

    def start(*args: str, database: str | None = None) -> PoolProcess:
        pool = PoolProcess([f"--pythonpath={TESTS_DIR}",
                            f"--database={database or f'127.0.0.1:{redis_server.port}:0'}", *args],
                           tmp_path / f"pool-{len(started)}.log")
        started.append(pool)
        return pool

    yield start
    for pool in started:
        pool.close()


def statuses(jobs: list[Job]) -> list[str]:
    return [STATUSES.by_value(job.status.hget(), "?") for job in jobs]


def title_of(pid: int) -> str:
    """A process's title (its command line as ``ps`` shows it), on Linux."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


# --- (a) burst: every job run, by both processes, then the pool exits 0


def test_a_burst_pool_runs_every_job_in_two_processes_then_exits_0(start_pool, connection):
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(20)]
    pool = start_pool("--queues=q", "--processes=2", "--burst", "--callback=test_pool.meet_then_record",
                      "--no-title", "--timeout=1")
    assert pool.wait(60) == 0, pool.log()
    assert statuses(jobs) == ["SUCCESS"] * 20
    executions = connection.lrange("executions", 0, -1)
    assert sorted(entry.split(":")[1] for entry in executions) == sorted(f"{n}" for n in range(20))
    runners = {int(entry.rsplit(":", 1)[1]) for entry in executions}
    assert runners == set(pool.child_pids()) and len(runners) == 2 and pool.pid not in runners
    assert len(pool.lines("its work is done")) == 2  # each exited 0 once, and was not replaced
    assert pool.lines("[pool] every worker process has ended: pool stopped")
    assert pool.group_is_empty()


# --- (b) a child killed is replaced, and jobs added afterwards still run


def test_a_killed_child_is_replaced_and_the_jobs_added_afterwards_run(start_pool, connection):
    Queue.get_queue("q")  # a worker's run starts once one of its queues exists
    pool = start_pool("--queues=q", "--processes=2", "--callback=sample_jobs.record_execution", "--timeout=1")
    workers = wait_until(lambda: len(Worker.registered_workers()) == 2 and Worker.registered_workers(),
                         what=lambda: f"two registered workers; log:\n{pool.log()}")
    pids = {int(worker.info["pid"]) for worker in workers}
    assert pids == set(pool.child_pids())
    if Path("/proc").is_dir():  # the titles, and the children are the pool's
        assert title_of(pool.pid).startswith("limpyd-jobs-worker-pool [running] processes=2 alive=2 queues=q")
        for worker in workers:
            pid = int(worker.info["pid"])
            assert parent_of(pid) == pool.pid
            title = f"limpyd-jobs-worker#{worker.id} "
            wait_until(lambda pid=pid, title=title: title_of(pid).startswith(title))

    victim, survivor = sorted(pids)
    os.kill(victim, signal.SIGKILL)

    def replaced() -> int | None:
        new = {int(worker.info["pid"]) for worker in Worker.registered_workers()} - pids
        return new.pop() if new else None

    newcomer = wait_until(replaced, what=lambda: f"a new registered worker; log:\n{pool.log()}")
    [killed] = pool.lines(f"(pid {victim}) was killed by SIGKILL")
    assert killed.endswith("starting a new one in 1s (1 bad end(s) in a row)")
    assert pool.child_pids()[2:] == [newcomer]

    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(10)]
    wait_until(lambda: statuses(jobs) == ["SUCCESS"] * 10, what=lambda: f"every job run; log:\n{pool.log()}")
    runners = {int(entry.rsplit(":", 1)[1]) for entry in connection.lrange("executions", 0, -1)}
    assert runners <= {survivor, newcomer}

    pool.process.send_signal(signal.SIGTERM)
    assert pool.wait(30) == 0, pool.log()
    assert pool.group_is_empty()


# --- (c) SIGTERM: each child finishes its job, the pool exits 0; SIGQUIT: they stop now


def start_two_busy_children(start_pool, connection, *args: str) -> tuple[PoolProcess, list[Job]]:
    """A pool of 2 whose children each run a job waiting for the key "go", 3 more jobs queued."""
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(5)]
    pool = start_pool("--queues=q", "--processes=2", "--callback=sample_jobs.wait_for_go", "--no-title",
                      "--timeout=1", *args)
    wait_until(lambda: connection.llen("child-pids") == 2,
               what=lambda: f"two jobs running; log:\n{pool.log()}")
    return pool, jobs


def test_sigterm_lets_each_child_finish_its_job_then_the_pool_exits_0(start_pool, connection):
    pool, jobs = start_two_busy_children(start_pool, connection)
    running = {int(pid) for pid in connection.lrange("child-pids", 0, -1)}
    assert running == set(pool.child_pids())

    pool.process.send_signal(signal.SIGTERM)
    pool.await_lines("signal 15 caught, stopping after the current job", count=2)  # sent on to each
    pool.process.send_signal(signal.SIGTERM)  # again: the children still finish
    pool.await_lines("[pool] SIGTERM caught again")
    assert pool.process.poll() is None  # waiting for its children, whose jobs wait for "go"
    assert statuses(jobs).count("RUNNING") == 2

    connection.set("go", 1)
    assert pool.wait(30) == 0, pool.log()
    assert sorted(statuses(jobs)) == ["SUCCESS", "SUCCESS", "WAITING", "WAITING", "WAITING"]
    assert connection.llen("executions") == 2  # the two jobs running ended, nothing else started
    assert Worker.registered_workers() == []  # each worker left the registry
    assert len(pool.lines("exited 0")) == 2 and not pool.lines("starting a new one")
    assert pool.group_is_empty()


def test_sigquit_stops_each_child_now_and_their_jobs_go_back(start_pool, connection):
    pool, jobs = start_two_busy_children(start_pool, connection)
    pool.process.send_signal(signal.SIGQUIT)
    assert pool.wait(30) == 0, pool.log()  # without "go": the jobs were interrupted
    assert statuses(jobs) == ["WAITING"] * 5
    assert connection.llen("executions") == 0
    assert len(pool.lines("interrupted and put back at the front of its queue")) == 2
    assert pool.group_is_empty()


def test_ctrl_c_in_a_terminal_is_one_graceful_stop(start_pool, connection):
    pool, jobs = start_two_busy_children(start_pool, connection)
    os.killpg(pool.pid, signal.SIGINT)  # as a terminal does: the pool and each child get it
    pool.await_lines("[pool] SIGINT caught: stopping")
    # each child gets it from the terminal and from the pool (once, if the two came together)
    pool.await_lines("signal 2 caught, stopping after the current job", count=2)
    assert pool.process.poll() is None and statuses(jobs).count("RUNNING") == 2
    connection.set("go", 1)
    assert pool.wait(30) == 0, pool.log()
    assert sorted(statuses(jobs)) == ["SUCCESS", "SUCCESS", "WAITING", "WAITING", "WAITING"]
    assert pool.group_is_empty()


def gone(pid: int) -> bool:
    """The process ended (a zombie waiting for whoever adopted it counts as ended)."""
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_children_of_a_killed_pool_stop_after_their_job(start_pool, connection):
    pool, jobs = start_two_busy_children(start_pool, connection)
    children = pool.child_pids()
    pool.process.kill()  # SIGKILL: the pool cannot tell its children
    pool.wait(10)
    pool.await_lines("signal 15 caught, stopping after the current job", count=2)  # from the kernel
    connection.set("go", 1)
    wait_until(lambda: all(gone(pid) for pid in children), what=lambda: f"children gone; log:\n{pool.log()}")
    assert sorted(statuses(jobs)) == ["SUCCESS", "SUCCESS", "WAITING", "WAITING", "WAITING"]


# --- a child failing at start (Redis gone) is restarted with the backoff, logged


def test_a_child_failing_at_start_is_restarted_after_growing_delays(start_pool):
    with RedisServer() as server:
        pool = start_pool("--queues=q", "--processes=2", "--no-title", "--timeout=1",
                          database=f"127.0.0.1:{server.port}:0")
        pool.await_lines("no queue q yet: waiting for one", count=2)  # each worker started
        victim = pool.child_pids()[0]
        server.stop(keep_directory=True)
        os.kill(victim, signal.SIGKILL)
        failures = pool.await_lines("exited with code 3", count=2)
        assert [line.rsplit(": ", 1)[1] for line in failures] == [
            "starting a new one in 2s (2 bad end(s) in a row)",
            "starting a new one in 4s (3 bad end(s) in a row)"]
        assert len(pool.lines(f"{PREFIX}cannot connect to Redis at 127.0.0.1:{server.port}")) >= 2
        server.start_again()
        pool.await_lines("no queue q yet: waiting for one", count=3)  # the next child, once Redis answers
        assert len(pool.lines("exited with code 3")) <= 3  # never a tight loop
        pool.process.send_signal(signal.SIGTERM)
        assert pool.wait(30) == 0, pool.log()
        assert pool.group_is_empty()


# --- (d) the restart logic, step by step, on a clock of the test's own


def test_backoff_doubles_from_1s_to_30s():
    backoff = Backoff()
    assert [backoff.delay(failures) for failures in range(9)] == [0, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.delay(10_000) == 30


def test_a_slot_after_each_kind_of_end():
    backoff, slot = Backoff(), Slot(1)
    slot.started(101, now=0)
    assert slot.exited(-9, now=5, backoff=backoff) == 1  # killed: a bad end
    slot.started(102, now=6)
    assert slot.exited(3, now=6.1, backoff=backoff) == 2  # failed at start: the delay doubles
    slot.started(103, now=8.1)
    assert slot.exited(0, now=8.3, backoff=backoff, report=Report(1000, True)) == 0  # max_loops: at once
    assert slot.failures == 0 and slot.start_at == 8.3
    slot.started(104, now=8.3)
    assert slot.exited(0, now=8.4, backoff=backoff, report=Report(0, False)) == 1  # at once, no job (HALT)
    slot.started(105, now=9.4)
    assert slot.exited(0, now=9.5, backoff=backoff, report=Report(0, False)) == 2
    slot.started(106, now=11.5)
    assert slot.exited(0, now=20, backoff=backoff, report=None) == 0  # no report, but ran long enough
    slot.started(107, now=20)
    assert slot.exited(1, now=21, backoff=backoff) == 1
    slot.started(108, now=22)
    assert slot.exited(1, now=22 + 59, backoff=backoff) == 2
    slot.started(109, now=100)
    assert slot.exited(1, now=100 + 60, backoff=backoff) == 1  # it ran a minute: counted from 1 s again
    assert (slot.starts, slot.pid) == (9, None)


def test_a_slot_in_burst_mode_ends_on_a_clean_exit_unless_it_stopped_on_a_limit():
    backoff, slot = Backoff(), Slot(1)
    slot.started(101, now=0)
    assert slot.exited(0, now=1, backoff=backoff, report=Report(1000, True), final_when_clean=True) == 0
    slot.started(102, now=1)
    assert slot.exited(4, now=2, backoff=backoff, final_when_clean=True) == 1  # a failure is replaced
    slot.started(103, now=3)
    assert slot.exited(0, now=4, backoff=backoff, report=Report(7, False), final_when_clean=True) is None
    assert slot.start_at is None


@pytest.mark.parametrize("code, said", [(0, "exited 0"), (3, "exited with code 3"),
                                        (-9, "was killed by SIGKILL"), (-200, "was killed by signal 200")])
def test_describe_exit(code, said):
    assert describe_exit(code) == said


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SteppedPool(WorkerPool):
    """A pool whose children are not processes: ``scripts[slot]`` says how long each child of a
    slot runs and how it ends (seconds, exit code, report); ``wait`` moves the clock."""

    def __init__(self, config: WorkerConfig, processes: int, clock: FakeClock) -> None:
        super().__init__(config, processes, clock=clock)
        self.fake_clock = clock
        self.scripts: dict[int, Callable[[int], tuple[float, int, Report | None]]] = {}
        self.ends: dict[int, tuple[float, int, Report | None]] = {}
        self.starts: list[tuple[int, float]] = []
        self.signals: list[tuple[int, int]] = []
        self.waits: list[float | None] = []
        self.horizon = float("inf")  # run_until's end: waits stop there
        self._next_pid = 100

    def start_child(self, slot: Slot) -> int:
        self._next_pid += 1
        self.starts.append((slot.number, self.clock()))
        runs_for, code, report = self.scripts.get(slot.number, lambda n: (1e9, 0, None))(slot.starts + 1)
        self.ends[self._next_pid] = (self.clock() + runs_for, code, report)
        return self._next_pid

    def reap(self) -> None:
        for slot in self.alive():
            ends_at, code, report = self.ends[slot.pid]
            if ends_at <= self.clock():
                self.child_exited(slot, code, report)

    def signal_child(self, slot: Slot, signum: int) -> None:
        self.signals.append((slot.number, signum))
        _, _, report = self.ends[slot.pid]
        self.ends[slot.pid] = (self.clock() + 2, 0, report)  # it finishes its job in 2 s

    def wait(self, timeout: float | None) -> None:
        self.waits.append(timeout)
        next_end = min((self.ends[slot.pid][0] for slot in self.alive()), default=None)
        moments = [moment for moment in (next_end, None if timeout is None else self.clock() + timeout)
                   if moment is not None]
        self.fake_clock.now = max(self.clock(), min([*moments, self.horizon]))

    def run_until(self, moment: float) -> None:
        """Step until ``moment`` (or until finished)."""
        self.horizon = moment
        while not self.finished() and self.clock() < moment:
            self.step()


def gaps(pool: SteppedPool, number: int) -> list[float]:
    """Seconds between two starts of a child in slot ``number``."""
    starts = [moment for slot, moment in pool.starts if slot == number]
    return [round(later - earlier, 2) for earlier, later in zip(starts, starts[1:], strict=False)]


@pytest.fixture
def stepped_pool():
    def make(*args: str, processes: int = 2) -> SteppedPool:
        config = WorkerConfig(["limpyd-jobs-worker", "--queues=q", "--no-title", f"--processes={processes}",
                               *args])
        return SteppedPool(config, processes, FakeClock())

    return make


def test_a_child_failing_at_start_is_started_again_after_1_2_4_up_to_30_seconds(stepped_pool):
    pool = stepped_pool()
    pool.scripts[1] = lambda start: (0.05, 3, Report(0, False))  # Redis went away: exit 3 at once
    pool.run_until(1000 + 180)
    assert gaps(pool, 1) == [
        1.05, 2.05, 4.05, 8.05, 16.05, 30.05, 30.05, 30.05, 30.05]
    assert [number for number, _ in pool.starts].count(2) == 1  # the other child runs on
    assert all(wait is None or wait > 0 for wait in pool.waits)  # never a busy loop


def test_a_child_ending_on_max_loops_is_replaced_at_once(stepped_pool):
    pool = stepped_pool()
    pool.scripts[1] = lambda start: (0.25, 0, Report(1000, True))  # 1000 jobs in 0.25 s
    pool.run_until(1000 + 1.1)
    starts = [moment - 1000 for number, moment in pool.starts if number == 1]
    assert starts == [0, 0.25, 0.5, 0.75, 1.0]
    assert pool.slots[0].failures == 0


def test_a_failing_slot_is_counted_from_1s_again_after_a_long_run(stepped_pool):
    pool = stepped_pool()
    runs = {1: 0.1, 2: 0.1, 3: 0.1, 4: 120, 5: 0.1}
    pool.scripts[1] = lambda start: (runs.get(start, 1e9), 1, None)
    pool.run_until(1000 + 200)
    assert gaps(pool, 1) == [1.1, 2.1, 4.1, 121, 2.1]


def test_stopping_sends_the_signal_on_once_and_waits_for_each_child(stepped_pool):
    pool = stepped_pool(processes=3)
    pool.scripts[3] = lambda start: (0.1, 1, None)
    pool.run_until(1000 + 0.5)  # child 3 failed: it starts again at 1001.1
    assert pool.seconds_to_next_start() == pytest.approx(0.6)
    pool.on_signal(signal.SIGTERM)
    pool.on_signal(signal.SIGTERM)  # again: not sent on
    assert pool.signals == [(1, signal.SIGTERM), (2, signal.SIGTERM)]
    assert pool.stopping and pool.seconds_to_next_start() is None and not pool.finished()
    pool.run_until(1000 + 100)
    assert pool.finished() and pool.clock() == pytest.approx(1000 + 2.5)  # once both finished their job
    assert len(pool.starts) == 3  # nothing started once stopping
    pool.on_signal(signal.SIGQUIT)
    assert pool.signals[2:] == []  # no child left to tell


def test_sigquit_is_sent_on_even_during_a_graceful_stop(stepped_pool):
    pool = stepped_pool()
    pool.run_until(1000 + 0.5)
    pool.on_signal(signal.SIGINT)
    pool.on_signal(signal.SIGQUIT)
    assert pool.signals == [(1, signal.SIGINT), (2, signal.SIGINT), (1, signal.SIGQUIT), (2, signal.SIGQUIT)]


def test_a_burst_pool_is_finished_once_each_child_exited_0(stepped_pool):
    pool = stepped_pool()
    pool.final_when_clean = True  # what prepare() sets for --burst
    pool.scripts[1] = lambda start: (0.5, 0, Report(5, False))
    pool.scripts[2] = lambda start: (0.5, 0, Report(1000, True)) if start == 1 else (0.5, 0, Report(3, False))
    pool.run_until(1000 + 100)
    assert pool.finished()
    assert [number for number, _ in pool.starts] == [1, 2, 2]  # 2 stopped on max_loops: replaced once


# --- (e) start-up errors are said once, before any child


@pytest.fixture
def no_fork(monkeypatch):
    """Fail the test if the pool starts a child."""
    def refuse(self, slot):
        raise AssertionError("a child was started")

    monkeypatch.setattr(WorkerPool, "start_child", refuse)


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("value, said", [("0", "The processes argument (0) must be a positive integer"),
                                         ("-2", "The processes argument (-2) must be a positive integer"),
                                         ("abc", "option --processes: invalid integer value: 'abc'")])
def test_a_bad_processes_value_is_a_usage_error_in_one_line(value, said, capsys, no_fork):
    code, out, err = run_main(["--queues=q", f"--processes={value}"], capsys)
    assert (code, out) == (RET_USAGE, "")
    assert err == f"{PREFIX}{said}\n"


def test_a_bad_processes_value_from_the_environment_names_the_variable(monkeypatch, capsys, no_fork):
    monkeypatch.setenv("LIMPYD_JOBS_PROCESSES", "0")
    code, _, err = run_main(["--queues=q"], capsys)
    assert code == RET_USAGE and err.count("\n") == 1 and "LIMPYD_JOBS_PROCESSES" in err


def test_an_unimportable_callback_exits_4_once_and_starts_no_child(redis_server, capsys, no_fork):
    code, _, err = run_main(["--queues=q", "--processes=3", "--callback=no_such_module.callback",
                             f"--database=127.0.0.1:{redis_server.port}:0"], capsys)
    assert code == RET_IMPORT
    assert err == (f"{PREFIX}argument --callback: Unable to import \"callback\""
                   f" from 'no_such_module.callback': ModuleNotFoundError: "
                   "No module named 'no_such_module'\n")


def test_an_unimportable_callback_exits_4_once_through_the_command(start_pool):
    pool = start_pool("--queues=q", "--processes=3", "--callback=no_such_module.callback")
    assert pool.wait(60) == RET_IMPORT
    assert pool.log() == (f"{PREFIX}argument --callback: Unable to import \"callback\""
                          f" from 'no_such_module.callback': ModuleNotFoundError: "
                          "No module named 'no_such_module'\n")


def test_an_unreachable_redis_exits_3_once_and_starts_no_child(capsys, no_fork):
    port = free_port()
    code, _, err = run_main(["--queues=q", "--processes=3", f"--database=127.0.0.1:{port}:0", "--no-title"],
                            capsys)
    assert code == RET_CONNECT
    assert err.startswith(f"{PREFIX}cannot connect to Redis at 127.0.0.1:{port} db 0")
    assert err.count("\n") == 1


def test_what_only_the_worker_refuses_is_said_once_and_starts_no_child(redis_server, capsys, no_fork):
    code, _, err = run_main(["--queues=q", "--worker-class=test_pool.RefusingWorker", "--processes=3",
                             "--no-title", f"--database=127.0.0.1:{redis_server.port}:0"], capsys)
    assert code == RET_USAGE
    assert err == f"{PREFIX}option --max-loops: invalid integer value: 'many'\n"


# --- the option


def test_processes_is_shown_after_the_options_of_redis_limpyd_jobs():
    names = [setting.name for setting in OPTIONS]
    assert names.index("processes") > max(names.index(name) for name in SEED_ORDER)
    helps = {action.option_strings[0]: action.help for action in make_parser()._actions
             if action.option_strings}
    flags = list(helps)
    assert flags.index("--processes") > flags.index("--no-title")
    assert helps["--processes"].endswith("e.g. --processes=4 (default: 1)")


def test_processes_1_runs_the_worker_without_a_pool(redis_server, monkeypatch, capsys):
    def refuse(self):
        raise AssertionError("a pool was run")

    monkeypatch.setattr(WorkerPool, "run", refuse)
    code, _, _ = run_main(["--queues=q", "--dry-run", "--no-title",
                           f"--database=127.0.0.1:{redis_server.port}:0"], capsys)
    assert code == 0


def test_a_dry_run_pool_prints_the_options_once_and_starts_each_child_once(start_pool):
    pool = start_pool("--queues=q", "--processes=2", "--dry-run", "--print-options", "--no-title")
    assert pool.wait(60) == 0, pool.log()
    assert pool.lines("processes: ") == ["processes: 2"], pool.log()
    assert len(pool.child_pids()) == 2 and len(pool.lines("its work is done")) == 2, pool.log()
    assert pool.group_is_empty()


# --- sharded: a worker serves one shard, so queues in several shards make a pool of a worker per shard


@pytest.mark.parametrize("processes", [1, 2])
def test_queues_in_several_shards_run_a_worker_per_shard(start_pool, redis_server, connection, processes):
    from limpyd_jobs import shards

    shards.configure(3)
    try:
        names = {shards.shard_of(f"queue-{number}"): f"queue-{number}" for number in range(30)}
        assert len(names) == 3
        jobs = [Job.add_job(identifier=f"job:{index}:{number}", queue_name=name)
                for index, name in names.items() for number in range(4)]
        pool = start_pool(f"--queues={','.join(names.values())}", f"--processes={processes}", "--burst",
                          "--callback=sample_jobs.record_execution", "--no-title", "--timeout=0.2",
                          database=f"redis://127.0.0.1:{redis_server.port}/0?shards=3")
        assert pool.wait(60) == 0, pool.log()
        assert statuses(jobs) == ["SUCCESS"] * 12
        assert pool.lines(f"queues in 3 shards: {3 * processes} worker processes, each in one shard")
        runners: dict[str, set[str]] = {}
        for entry in connection.lrange("executions", 0, -1):
            identifier, pid = entry.rsplit(":", 1)
            runners.setdefault(pid, set()).add(identifier.split(":")[1])
        assert all(len(served) == 1 for served in runners.values())  # each process in one shard
    finally:
        shards.configure(1, {})
