"""Where a taken job runs: in the worker process, in a child forked per job, or in a pre-forked
child reused across jobs.

The forked modes isolate the worker from its jobs: a job past its timeout is stopped (SIGTERM,
then SIGKILL after ``timeout_grace`` seconds) and recorded as a ``JobTimeout`` error; a child
that dies (segfault, out of memory, ``os._exit``) is recorded as ``JobProcessDied``. In both
cases the usual requeue rules apply. In-process mode can only interrupt Python code (see
``InProcessExecutor``).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .exceptions import JobProcessDied, JobTimeout

if TYPE_CHECKING:
    from .models import Job, Queue
    from .workers import Worker

logger = logging.getLogger("limpyd-jobs")

#: How a wait for a child ended.
DONE, TIMEOUT, DIED, INTERRUPTED = "done", "timeout", "died", "interrupted"


class _TimeIsUp(BaseException):
    """Raised in a child's job by the parent's SIGTERM: unwinds the job (its ``finally`` blocks
    run) without being recorded by the child; the parent records the JobTimeout."""


class InProcessExecutor:
    """Runs jobs in the worker process.

    A timeout raises ``JobTimeout`` in the job through SIGALRM (main thread only): it stops
    Python code and most blocking calls, but not C code that holds the interpreter for long, nor
    a job that catches the exception. Use a forked mode when jobs must be killable.
    """

    mode = "inprocess"

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def execute(self, job: Job, queue: Queue, timeout: float | None) -> None:
        self.worker.handle_job(job, queue, timeout)

    @contextmanager
    def time_limit(self, timeout: float | None) -> Iterator[None]:
        """Raise JobTimeout in the block after ``timeout`` seconds (if given, in the main thread)."""
        if not timeout or not _in_main_thread():
            yield
            return

        def expire(signum: int, frame: Any) -> None:
            raise JobTimeout(f"job ran for more than {timeout}s")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def interrupt(self) -> None:
        """Nothing to kill: the worker raises WorkerInterrupted in the job itself."""

    def close(self) -> None:
        """Nothing to clean."""


class _ForkedExecutor(InProcessExecutor):
    """What the two forked modes share: the child's setup, the parent's wait and its verdicts."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(worker)
        self.child_pid: int | None = None
        self.interrupted = False
        #: time.monotonic() value (shared by parent and child) at which the current job is late
        self.deadline: float | None = None

    def _set_deadline(self, timeout: float | None) -> None:
        self.deadline = time.monotonic() + timeout if timeout else None

    def _become_child(self) -> None:
        """In a fresh child: leave stop signals to the parent, stop on SIGTERM only when late."""
        self.child_pid = None
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.worker.forget_signal_handlers()

    @contextmanager
    def time_limit(self, timeout: float | None) -> Iterator[None]:
        """In the child: the parent's SIGTERM after the deadline unwinds the job."""
        deadline = self.deadline
        if deadline is None:
            yield
            return

        def expire(signum: int, frame: Any) -> None:
            if time.monotonic() >= deadline:  # a group-wide SIGTERM before that is not for us
                raise _TimeIsUp()

        signal.signal(signal.SIGTERM, expire)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def _wait(self, fd: int, buffer: bytearray) -> str:
        """Wait for a line from the child, its death, the deadline or an interruption."""
        deadline = self.deadline
        while True:
            if self.interrupted:
                return INTERRUPTED
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return TIMEOUT
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            data = os.read(fd, 4096)
            if not data:
                return INTERRUPTED if self.interrupted else DIED
            buffer.extend(data)
            if b"\n" in buffer:
                del buffer[: buffer.index(b"\n") + 1]
                return DONE

    def _stop_child(self, pid: int) -> int:
        """SIGTERM the child, SIGKILL it after the grace period; reap it; return its wait status."""
        _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.worker.timeout_grace
        while time.monotonic() < deadline:
            finished, status = os.waitpid(pid, os.WNOHANG)
            if finished:
                return status
            time.sleep(0.01)
        _kill(pid, signal.SIGKILL)
        return os.waitpid(pid, 0)[1]

    def _verdict(self, job: Job, queue: Queue, outcome: str, timeout: float | None, status: int) -> None:
        """Record what the parent saw, when the child did not finish the job itself."""
        if outcome == TIMEOUT:
            self.worker.job_error(job, queue, JobTimeout(f"job ran for more than {timeout}s, killed"))
        elif outcome == DIED:
            self.worker.job_error(job, queue, JobProcessDied(f"the job's process died ({_describe(status)})"))
        elif outcome == INTERRUPTED:
            self.worker.give_back(job, queue)

    def interrupt(self) -> None:
        """Second stop signal: kill the child now."""
        self.interrupted = True
        if self.child_pid:
            _kill(self.child_pid, signal.SIGKILL)


class ForkExecutor(_ForkedExecutor):
    """Forks a child for each job (like rq's default worker)."""

    mode = "fork"

    def execute(self, job: Job, queue: Queue, timeout: float | None) -> None:
        read_fd, write_fd = os.pipe()
        self._set_deadline(timeout)
        pid = os.fork()
        if pid == 0:  # child
            os.close(read_fd)
            self._become_child()
            if _run_in_child(self.worker, job, queue, timeout) == 0:
                os.write(write_fd, b"done\n")
                os._exit(0)
            os._exit(1)  # the parent sees no "done": it records the job's process as dead
        os.close(write_fd)
        self.child_pid = pid
        try:
            outcome = self._wait(read_fd, bytearray())
            status = os.waitpid(pid, 0)[1] if outcome == DONE else self._stop_child(pid)
        finally:
            self.child_pid = None
            os.close(read_fd)
        self._verdict(job, queue, outcome, timeout, status)


class PreforkExecutor(_ForkedExecutor):
    """Keeps one child process and sends it jobs one by one; replaces it when it dies or is killed."""

    mode = "prefork"

    def __init__(self, worker: Worker) -> None:
        super().__init__(worker)
        self._to_child: int | None = None
        self._from_child: int | None = None
        self._buffer = bytearray()

    def _spawn(self) -> None:
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(to_child_write)
            os.close(from_child_read)
            self._become_child()
            self._child_loop(to_child_read, from_child_write)
        os.close(to_child_read)
        os.close(from_child_write)
        self.child_pid, self._to_child, self._from_child = pid, to_child_write, from_child_read
        self._buffer = bytearray()

    def _child_loop(self, read_fd: int, write_fd: int) -> None:
        """Run each job the parent sends until the pipe closes, then exit."""
        with os.fdopen(read_fd, "rb") as orders:
            for line in orders:
                data = json.loads(line)
                self.deadline = data.pop("deadline")
                job, queue, timeout = self.worker.resume_job(data)
                if _run_in_child(self.worker, job, queue, timeout) != 0:
                    os._exit(1)  # the parent sees no "done": it records the job's process as dead
                os.write(write_fd, b"done\n")
        os._exit(0)

    def execute(self, job: Job, queue: Queue, timeout: float | None) -> None:
        if self.child_pid is None:
            self._spawn()
        self._set_deadline(timeout)
        order = {**self.worker.describe_current_job(job, queue, timeout), "deadline": self.deadline}
        try:
            os.write(self._to_child, (json.dumps(order) + "\n").encode())
            outcome = self._wait(self._from_child, self._buffer)
        except BrokenPipeError:
            outcome = DIED
        if outcome != DONE:
            self._verdict(job, queue, outcome, timeout, self._retire_child())

    def _retire_child(self) -> int:
        """Stop the child (it is late, dead or interrupted) and forget it; return its wait status."""
        pid = self.child_pid
        os.close(self._to_child)
        os.close(self._from_child)
        self.child_pid = self._to_child = self._from_child = None
        return self._stop_child(pid)

    def close(self) -> None:
        """Close the child's pipe so that it exits; kill it if it does not."""
        if self.child_pid is not None:
            self._retire_child()


EXECUTORS = {cls.mode: cls for cls in (InProcessExecutor, ForkExecutor, PreforkExecutor)}


def _run_in_child(worker: Worker, job: Job, queue: Queue, timeout: float | None) -> int:
    """Run the job in a child process; a crash is logged, never raised."""
    try:
        worker.handle_job(job, queue, timeout)
        return 0
    except BaseException:
        logger.exception("job %s crashed its process", job.ident)
        return 1
    finally:
        for handler in logging.getLogger("limpyd-jobs").handlers + logging.getLogger().handlers:
            handler.flush()


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
