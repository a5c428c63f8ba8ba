"""Where a taken job runs: in the worker process, in a child forked per job, or in a pre-forked
child reused across jobs.

An executor runs a target for each attempt, handing it its ``guard`` for the job's own code, and
says how that went: ``DONE``, ``TIMEOUT`` (killed past its deadline), ``DIED`` (its process died)
or ``INTERRUPTED`` (SIGQUIT). A forked child past its deadline gets SIGTERM, then SIGKILL after
``grace`` seconds; in-process mode can only interrupt Python code (see ``InProcessExecutor``).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from ..constants import LOGGER_NAME
from ..exceptions import JobTimeout, WorkerInterrupted
from .attempt import Attempt

logger = logging.getLogger(LOGGER_NAME)

#: How the run of an attempt ended.
DONE, TIMEOUT, DIED, INTERRUPTED = "done", "timeout", "died", "interrupted"

#: Runs an attempt; the guard (a context manager factory taking the timeout) wraps the job's code.
Target = Callable[[Attempt, Callable[[float | None], Any]], None]


class Outcome(NamedTuple):
    kind: str  # DONE, TIMEOUT, DIED or INTERRUPTED
    detail: str = ""  # for DIED: how the process ended


class _TimeIsUp(BaseException):
    """Raised in a child's job by the parent's SIGTERM: unwinds the job (its ``finally`` blocks
    run) without being recorded by the child; the parent records the timeout."""


class InProcessExecutor:
    """Runs jobs in the worker process.

    A timeout raises ``JobTimeout`` in the job through SIGALRM (main thread only): it stops
    Python code and most blocking calls, but not C code that holds the interpreter for long, nor
    a job that catches the exception. Use a forked mode when jobs must be killable.
    """

    name = "inprocess"
    #: The job runs in the worker's own process (what it takes along, the worker holds).
    shares_worker_process = True

    def __init__(self, target: Target, grace: float) -> None:
        self.target = target
        self.grace = grace
        self._in_job = False

    def execute(self, attempt: Attempt) -> Outcome:
        """Run the target for this attempt, and say how it ended."""
        try:
            self.target(attempt, self.guard)
        except WorkerInterrupted:
            return Outcome(INTERRUPTED)
        return Outcome(DONE)

    @contextmanager
    def guard(self, timeout: float | None) -> Iterator[None]:
        """Around the job's own code: raise JobTimeout in it after ``timeout`` seconds (main
        thread only), and let ``interrupt`` stop it."""
        self._in_job = True
        try:
            if not timeout or threading.current_thread() is not threading.main_thread():
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
        finally:
            self._in_job = False

    def interrupt(self) -> None:
        """Stop-now signal (called from the signal handler): stop the job now, if one runs."""
        if self._in_job:
            raise WorkerInterrupted()

    def close(self) -> None:
        """Nothing to clean."""


class _ForkedExecutor(InProcessExecutor):
    """What the two forked modes share: the child's setup, and the parent's wait for it."""

    shares_worker_process = False

    def __init__(self, target: Target, grace: float) -> None:
        super().__init__(target, grace)
        self.child_pid: int | None = None
        self.interrupted = False
        #: time.monotonic() value (shared by parent and child) at which the current job is late
        self.deadline: float | None = None

    def _set_deadline(self, timeout: float | None) -> None:
        self.deadline = time.monotonic() + timeout if timeout else None

    def _become_child(self) -> None:
        """In a fresh child: leave stop signals to the parent (SIGTERM only stops a late job)."""
        self.child_pid = None
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_IGN)

    @contextmanager
    def guard(self, timeout: float | None) -> Iterator[None]:
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

    def _wait(self, fd: int, buffer: bytearray) -> Outcome:
        """Wait for a line from the child, its death, the deadline or an interruption."""
        deadline = self.deadline
        while True:
            if self.interrupted:
                return Outcome(INTERRUPTED)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return Outcome(TIMEOUT)
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            data = os.read(fd, 4096)
            if not data:
                return Outcome(INTERRUPTED if self.interrupted else DIED)
            buffer.extend(data)
            if b"\n" in buffer:
                del buffer[: buffer.index(b"\n") + 1]
                return Outcome(DONE)

    def _stop_child(self, pid: int) -> int:
        """SIGTERM the child, SIGKILL it after the grace period; reap it; return its wait status."""
        _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            finished, status = os.waitpid(pid, os.WNOHANG)
            if finished:
                return status
            time.sleep(0.01)
        _kill(pid, signal.SIGKILL)
        return os.waitpid(pid, 0)[1]

    def interrupt(self) -> None:
        """Stop-now signal: kill the child now."""
        self.interrupted = True
        if self.child_pid:
            _kill(self.child_pid, signal.SIGKILL)


class ForkExecutor(_ForkedExecutor):
    """Forks a child for each job (like rq's default worker)."""

    name = "fork"

    def execute(self, attempt: Attempt) -> Outcome:
        read_fd, write_fd = os.pipe()
        self._set_deadline(attempt.timeout)
        pid = os.fork()
        if pid == 0:  # child: it never returns into the worker's code (os._exit, whatever happens)
            code = 1  # the parent sees no "done": it records the job's process as dead
            try:
                os.close(read_fd)
                self._become_child()
                if _run_in_child(self.target, attempt, self.guard):
                    os.write(write_fd, b"done\n")
                    code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        self.child_pid = pid
        try:
            outcome = self._wait(read_fd, bytearray())
            status = os.waitpid(pid, 0)[1] if outcome.kind == DONE else self._stop_child(pid)
        finally:
            self.child_pid = None
            os.close(read_fd)
        return outcome._replace(detail=_describe(status)) if outcome.kind == DIED else outcome


class PreforkExecutor(_ForkedExecutor):
    """Keeps one child process and sends it attempts one by one; replaces it when it dies or is
    killed. The child rebuilds each attempt from plain data (``Attempt.to_dict``)."""

    name = "prefork"

    def __init__(self, target: Target, grace: float) -> None:
        super().__init__(target, grace)
        self._to_child: int | None = None
        self._from_child: int | None = None
        self._buffer = bytearray()

    def _spawn(self) -> None:
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: it never returns into the worker's code (os._exit, whatever happens)
            try:
                os.close(to_child_write)
                os.close(from_child_read)
                self._become_child()
                self._child_loop(to_child_read, from_child_write)
            finally:
                os._exit(1)
        os.close(to_child_read)
        os.close(from_child_write)
        self.child_pid, self._to_child, self._from_child = pid, to_child_write, from_child_read
        self._buffer = bytearray()

    def _child_loop(self, read_fd: int, write_fd: int) -> None:
        """Run each attempt the parent sends until the pipe closes (the parent stopped, or died),
        then exit."""
        with os.fdopen(read_fd, "rb") as orders:
            for line in orders:
                order = json.loads(line)
                self.deadline = order.pop("deadline")
                if not _run_in_child(self.target, Attempt.from_dict(order), self.guard):
                    os._exit(1)  # the parent sees no "done": it records the job's process as dead
                try:
                    os.write(write_fd, b"done\n")
                except BrokenPipeError:  # the parent is gone
                    break
        os._exit(0)

    def execute(self, attempt: Attempt) -> Outcome:
        if self.child_pid is None:
            self._spawn()
        self._set_deadline(attempt.timeout)
        order = {**attempt.to_dict(), "deadline": self.deadline}
        try:
            os.write(self._to_child, (json.dumps(order) + "\n").encode())
            outcome = self._wait(self._from_child, self._buffer)
        except BrokenPipeError:
            outcome = Outcome(DIED)
        if outcome.kind == DONE:
            return outcome
        status = self._retire_child()
        return outcome._replace(detail=_describe(status)) if outcome.kind == DIED else outcome

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


EXECUTORS: dict[str, type[InProcessExecutor]] = {
    executor.name: executor for executor in (InProcessExecutor, ForkExecutor, PreforkExecutor)}


def _run_in_child(target: Target, attempt: Attempt, guard: Callable[[float | None], Any]) -> bool:
    """Run the target in a child process; a crash is logged, never raised. True if it returned."""
    try:
        target(attempt, guard)
        return True
    except BaseException:
        logger.exception("job %s crashed its process", attempt.ident)
        return False
    finally:
        for handler in logger.handlers + logging.getLogger().handlers:
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
