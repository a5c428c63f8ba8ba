"""What the tests share: paths, awaiting a condition, worker variants, threads, round-trip counting,
workers tracked from threads, and the dashboard's data. Fixtures are in conftest.py."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limpyd_jobs import Job, Queue, Worker, pending, recurring
from limpyd_jobs import operations as ops

#: This folder: on the path of the tests and of the processes they start (sample_jobs, sample_config...).
TESTS_DIR = str(Path(__file__).resolve().parent)
#: The project's root.
ROOT = Path(__file__).resolve().parent.parent


def eventually(condition: Callable[[], Any], seconds: float) -> bool:
    """Whether ``condition`` became true within ``seconds`` (polled every 50 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def wait_until(condition: Callable[[], Any], timeout: float = 30, what: str | Callable[[], str] = "") -> Any:
    """Poll ``condition`` until it is true (returned), or fail after ``timeout`` seconds saying
    ``what`` was awaited (a callable: called then, to show the state at that time)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"not seen within {timeout}s: {said or condition}")
        time.sleep(0.02)


class WaitingWorker(Worker):
    """A worker whose ``waiting`` event is set when it starts waiting for a job."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.waiting = threading.Event()
        super().__init__(*args, **kwargs)

    def set_status(self, status: str) -> None:
        super().set_status(status)
        if status == "waiting":
            self.waiting.set()


class ClockedWait:
    """Stands in for a worker's ``WakeUpWait`` on a manual clock: a token already in a wake-up list
    ends the wait at once (as BLPOP would), else the clock moves forward by the wait's length."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.waits: list[float] = []
        self.woken_by: str | None = None

    def wait(self, seconds: float, must_stop: Callable[[], bool]) -> bool:
        if must_stop():
            return False
        if self.worker.before_wait is not None:
            self.worker.before_wait()
        connection = self.worker.connection
        self.woken_by = next((key for key in [*self.worker.fetcher.wakeup_keys(), self.worker.wakeup_key]
                              if connection.lpop(key)), None)
        if self.woken_by:
            return True
        self.waits.append(seconds)
        self.worker.clock.advance(seconds)
        return False

    def cut(self) -> None:
        pass


class ClockedWorker(Worker):
    """A worker whose waits move the manual clock instead of blocking (see ClockedWait);
    ``before_wait``, if set, is called as each wait starts."""

    before_wait: Callable[[], None] | None = None
    waiter_factory = staticmethod(ClockedWait)


class Threads:
    """Threads started by a test; ``join()`` waits for them and raises what any of them raised."""

    def __init__(self) -> None:
        self.started: list[tuple[threading.Thread, list[BaseException]]] = []

    def start(self, target: Callable[..., Any], *args: Any) -> threading.Thread:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # handed to the test at join()
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.started.append((thread, errors))
        return thread

    def join(self, timeout: float = 30) -> None:
        for thread, errors in self.started:
            thread.join(timeout)
            assert not thread.is_alive(), f"thread {thread.name} still runs after {timeout}s"
            if errors:
                raise errors[0]
        self.started = []


class RoundTrips:
    """Records, through MONITOR, the commands clients send (not those run inside scripts).

    ``with RoundTrips(server) as trips: ...`` then ``trips.commands`` lists them by name.
    """

    SENTINEL = "limpyd-jobs-round-trips-end"
    HANDSHAKE = ("HELLO", "CLIENT SETINFO", "CLIENT SETNAME", "SELECT")  # new connections only

    def __init__(self, server):
        self.server = server
        self.commands: list[str] = []

    @property
    def count(self) -> int:
        return len(self.commands)

    def __enter__(self):
        # a client of its own, so the monitored code keeps its pooled connections
        self._client = self.server.client()
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        return self

    def __exit__(self, *exc_info):
        self._client.echo(self.SENTINEL)
        for _ in range(100_000):
            command = self._monitor.next_command()
            if command["command"] == f"ECHO {self.SENTINEL}":
                break
            if command["client_type"] != "lua" and not command["command"].startswith(self.HANDSHAKE):
                self.commands.append(command["command"].split(" ", 1)[0].upper())
        self._monitor.__exit__(*exc_info)
        self._client.close()



# --- workers tracked from threads


class Tracker:
    """What workers report (callbacks run, ends recorded), and a way to await a count of it."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.runs: Counter[str] = Counter()  # identifier -> callbacks run
        self.ends: Counter[str] = Counter()  # success, error, skipped -> ends recorded
        self.statuses: Counter[str] = Counter()  # worker statuses (waiting...) -> times set
        self.blocked = 0  # callbacks waiting at a gate

    def note(self, counter: Counter[str], key: str) -> None:
        with self.condition:
            counter[key] += 1
            self.condition.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        with self.condition:
            assert self.condition.wait_for(predicate, timeout), "what was awaited did not happen"

    def gate(self, event: threading.Event) -> None:
        """Block the calling callback until ``event`` is set (``blocked`` counts those waiting)."""
        with self.condition:
            self.blocked += 1
            self.condition.notify_all()
        assert event.wait(30)


class TrackedWorker(Worker):
    """A worker that tells its tracker each end it records (after the hooks ran)."""

    tracker: Tracker

    def job_success(self, job: Job, queue: Queue, job_result: Any) -> None:
        super().job_success(job, queue, job_result)
        self.tracker.note(self.tracker.ends, "success")

    def job_error(self, job: Job, queue: Queue, exception: BaseException, trace: str | None = None) -> None:
        super().job_error(job, queue, exception, trace)
        self.tracker.note(self.tracker.ends, "error")

    def job_skipped(self, job: Job, queue: Queue) -> None:
        super().job_skipped(job, queue)
        self.tracker.note(self.tracker.ends, "skipped")

    def set_status(self, status: str) -> None:
        super().set_status(status)
        if getattr(self, "tracker", None) is not None:
            self.tracker.note(self.tracker.statuses, status)


def tracked_worker(tracker: Tracker, callback: Callable[[Job, Queue], Any], queues: str = "q",
                   **options: Any) -> TrackedWorker:
    options.setdefault("timeout", 0.05)
    worker = TrackedWorker(queues, callback=callback, terminate_gracefuly=False, **options)
    worker.tracker = tracker
    return worker


class WorkerThreads:
    """Workers run in threads: ``start(*workers)``, then ``stop()`` ends them all and waits for
    them (what a thread raised is raised then)."""

    def __init__(self) -> None:
        self.threads = Threads()
        self.workers: list[Worker] = []

    def start(self, *workers: Worker) -> None:
        for worker in workers:
            self.workers.append(worker)
            self.threads.start(worker.run)

    def stop(self) -> None:
        for worker in self.workers:
            worker.end_forced = True
            worker.waiter.cut()  # a worker waiting for a job stops now, not at the end of its wait
        self.threads.join()



# --- the dashboard's data

SCRIPT = "<script>alert(1)</script>"
HOSTILE_MESSAGE = "<img src=x onerror=alert(2)>"
#: The schedule of the recurring job the data has: every day at 09:00 UTC.
DAILY = "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY"


def failing_callback(job: Job, queue: Queue) -> None:
    """Fails the jobs whose identifier says "bad" or holds markup, as a real job fails."""
    identifier = job.identifier.hget()
    if identifier == SCRIPT:
        raise ValueError(HOSTILE_MESSAGE)
    if "bad" in identifier:
        raise ValueError(f"cannot read {identifier}")


class BusyWorker:
    """A real worker in a thread, running a job of ``queue`` until ``release()``."""

    def __init__(self, queue: str, identifier: str) -> None:
        self.started, self.released = threading.Event(), threading.Event()
        self.job = Job.add_job(identifier=identifier, queue_name=queue)
        self.worker = Worker(queue, callback=self._block, timeout=0.05, terminate_gracefuly=False)
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.started.wait(30), "the worker did not start its job"

    def _block(self, job: Job, queue: Queue) -> None:
        self.started.set()
        assert self.released.wait(30)

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as exc:  # given to the test by release()
            self.errors.append(exc)

    def release(self) -> None:
        self.released.set()
        self.worker.end_forced = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "the worker did not stop"
        if self.errors:
            raise self.errors[0]


@dataclass
class Data:
    """What ``fill`` made: jobs by role, and the worker still running one."""

    succeeded: list[Job]
    bad: Job
    script: Job
    waiting: Job
    delayed: Job
    mail: Job
    busy: BusyWorker


def fill() -> Data:
    """Realistic data, made by real workers: images (3 successes, 2 failures, one of them with an
    identifier and a message full of markup, 1 waiting, 1 delayed), emails (1 waiting, paused),
    reports (1 job a live worker runs), a recurring schedule and a pending job."""
    succeeded = [Job.add_job(identifier=f"photo:{number}", queue_name="images") for number in (1, 2, 3)]
    bad = Job.add_job(identifier="photo:bad", queue_name="images")
    script = Job.add_job(identifier=SCRIPT, queue_name="images")
    Worker("images", callback=failing_callback, burst=True, timeout=0.05, terminate_gracefuly=False).run()
    waiting = Job.add_job(identifier="photo:4", queue_name="images")
    delayed = Job.add_job(identifier="photo:5", queue_name="images", delayed_for=3600)
    mail = Job.add_job(identifier="mail:1", queue_name="emails")
    ops.pause("emails")
    recurring.set_schedule("report:daily", DAILY)
    pending.schedule_job("feed:news", 3600, url="https://example.com/feed.xml", timeout=10)
    busy = BusyWorker("reports", "render:yearly")
    return Data(succeeded, bad, script, waiting, delayed, mail, busy)
