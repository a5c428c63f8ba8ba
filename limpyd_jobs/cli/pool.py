"""``limpyd-jobs worker --processes=N``: N worker processes, forked and kept running by a supervisor.

``WorkerPool`` checks the start-up once (options, Redis, logging, a worker built then dropped),
forks N children that run the worker, starts a new one when one ends (after a growing delay
when it failed) and passes stop signals on. Why fork, the restart rules, the signals, the
titles and logs: docs/operating.rst.
"""

from __future__ import annotations

import logging
import mmap
import os
import select
import signal
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn, Protocol

from .. import shards
from ..constants import LOGGER_NAME
from ..models import BaseJobsModel
from .common import RET_ERROR, RET_OK, run_command


class PoolCommand(Protocol):
    """What the pool asks of the command it runs (``WorkerConfig``, which imports the pool)."""

    prog_name: str
    options: Any  # the parsed options (an argparse.Namespace)
    worker: Any
    update_title: bool

    def prepare_models(self) -> Any: ...
    def prepare_logging(self) -> Any: ...
    def prepare_worker(self) -> Any: ...
    def print_options(self) -> Any: ...
    def execute(self) -> int: ...

#: What the pool's process title starts with.
TITLE_PREFIX = "limpyd-jobs-worker-pool"
#: Signals after which each child finishes its current job, then exits.
GRACEFUL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: The signal after which each child stops now, putting its job back.
STOP_NOW_SIGNAL = signal.SIGQUIT
#: The signals the pool catches (SIGCHLD: a child ended), blocked while it forks.
_CAUGHT = (*GRACEFUL_SIGNALS, STOP_NOW_SIGNAL, signal.SIGCHLD)
#: Seconds between two looks at the children when signals cannot wake the pool (not the main thread).
POLL_INTERVAL = 0.2
#: What each child leaves for the pool when it ends: jobs run, and whether it reached a limit.
_REPORT = struct.Struct("qq")
#: prctl(2) option: the signal this process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Backoff:
    """The delay before a new child replaces one that ended.

    At once after a good run, else ``first`` seconds, times ``factor`` at each bad end in a row,
    ``maximum`` at most: a child failing at start never restarts in a tight loop."""

    first: float = 1.0
    factor: float = 2.0
    maximum: float = 30.0
    #: A child that ran this many seconds was healthy: the count of bad ends starts again.
    reset_after: float = 60.0
    #: A child exiting 0 sooner than this without running a job did not work (``HALT``...).
    quick_exit: float = 1.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before a new child after ``failures`` bad ends in a row (0: none)."""
        if failures <= 0:
            return 0.0
        return min(self.maximum, self.first * self.factor ** min(failures - 1, 64))


class Report(NamedTuple):
    """What a child said when it ended."""

    jobs: int  # jobs its worker took
    limit_reached: bool  # it stopped on --max-loops or --max-duration


@dataclass
class Slot:
    """One place of the pool, numbered from 1: its child, and when the next one starts."""

    number: int
    pid: int | None = None
    #: The queues its worker serves (sharded: those of one shard), or None: the command's.
    queues: list[str] | None = None
    started_at: float = 0.0
    #: When to start a child here (a clock time), or None: none to start.
    start_at: float | None = 0.0
    #: Bad ends in a row (failures, kills, quick exits).
    failures: int = 0
    starts: int = 0

    def started(self, pid: int, now: float) -> None:
        """A child runs here since ``now``."""
        self.pid, self.started_at, self.start_at = pid, now, None
        self.starts += 1

    def exited(self, code: int, now: float, backoff: Backoff, report: Report | None = None,
               final_when_clean: bool = False) -> float | None:
        """Seconds until a child replaces the one that ended with ``code`` (None: none will).

        None when it exited 0 under ``final_when_clean`` without stopping on a limit."""
        ran = now - self.started_at
        self.pid = None
        if code == 0 and final_when_clean and not (report and report.limit_reached):
            self.start_at = None
            return None
        if code == 0 and ((report and report.jobs) or ran >= backoff.quick_exit):
            self.failures = 0
        else:
            if ran >= backoff.reset_after:
                self.failures = 0
            self.failures += 1
        delay = backoff.delay(self.failures)
        self.start_at = now + delay
        return delay

    def not_started(self, now: float, backoff: Backoff) -> float:
        """Starting a child failed (fork refused): return the seconds until the next try."""
        self.failures += 1
        delay = backoff.delay(self.failures)
        self.start_at = now + delay
        return delay


def describe_exit(code: int) -> str:
    """``exited 0``, ``exited with code 3`` or ``was killed by SIGKILL``, from an exit code.

    A negative code is the signal that killed the process, as ``subprocess`` says it."""
    if code == 0:
        return "exited 0"
    if code > 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"was killed by {name}"


class WorkerPool:
    """Run ``processes`` forked workers running ``config``, and keep them running (``run()``).

    Its steps (``handle_signals``, ``reap``, ``start_due``, ``wait``) read the time from ``clock``,
    so that a test may drive them with a clock of its own."""

    title_prefix = TITLE_PREFIX

    def __init__(self, config: PoolCommand, processes: int, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.processes = processes
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.slots = [Slot(number) for number in range(1, processes + 1)]
        self.stopping = False
        #: A child exiting 0 is not replaced (--burst, --dry-run), unless it stopped on a limit.
        self.final_when_clean = False
        self.queues: list[str] = []
        self.logger = logging.getLogger(f"{LOGGER_NAME}.pool")
        self._pending: list[int] = []  # signals caught, handled by the loop
        self._previous_handlers: dict[int, Any] = {}
        self._wakeup: tuple[int, int] | None = None  # the pipe signals write to (signal.set_wakeup_fd)
        self._previous_wakeup = -1
        self._reports: mmap.mmap | None = None  # shared with the children: their Report

    # --- the life of the pool

    def run(self) -> int:
        """Check the start-up, then keep the children running until told to stop; the exit code.

        With --burst, until each exited 0; start-up errors are raised for ``run_command`` to say."""
        self.prepare()
        self._reports = mmap.mmap(-1, _REPORT.size * self.processes)
        self.install_signal_handlers()
        try:
            self.log(f"starting {self.processes} worker processes (queues={','.join(self.queues)})")
            self.set_title("running")
            while not self.finished():
                self.step()
            self.log("every worker process has ended: pool stopped")
            self.set_title("terminated")
            return RET_OK
        except BaseException:
            self.logger.exception("[pool] failed: stopping the worker processes, each after its current job")
            self.abandon()
            raise
        finally:
            self.restore_signal_handlers()
            self._reports.close()
            self._reports = None

    def prepare(self) -> None:
        """Check once what the command checks before a worker runs: Redis, logging, a worker built.

        Its errors are raised here, before any child; ``--print-options`` prints."""
        config = self.config
        config.prepare_models()
        config.prepare_logging()
        worker = config.prepare_worker()
        worker.stop_handling_end_signal()  # it runs no job: the pool handles the signals
        if config.options.print_options:
            config.print_options()
        self.logger = worker.logger.getChild("pool")
        self.queues = list(worker.queues)
        self.split_by_shard()
        self.final_when_clean = bool(worker.burst or config.options.dry_run)
        config.worker = None
        _disconnect([BaseJobsModel, config.options.queue_model, config.options.error_model])

    def split_by_shard(self) -> None:
        """Sharded, with queues in several shards: ``processes`` slots for the queues of each."""
        groups: dict[int, list[str]] = {}
        for name in self.queues:
            groups.setdefault(shards.shard_of(name), []).append(name)
        if len(groups) < 2:
            return
        self.slots = [Slot(number, queues=groups[index]) for number, (index, _) in enumerate(
            ((index, copy) for index in sorted(groups) for copy in range(self.processes)), start=1)]
        self.processes = len(self.slots)
        self.log(f"queues in {len(groups)} shards: {len(self.slots)} worker processes, each in one shard")

    def step(self) -> None:
        """Handle the signals caught, reap ended children, start those due, wait for what comes next."""
        self.handle_signals()
        self.reap()
        self.start_due()
        if not self.finished():
            self.wait(self.seconds_to_next_start())

    def finished(self) -> bool:
        """True when no child runs and none is to start."""
        return all(slot.pid is None and slot.start_at is None for slot in self.slots)

    def alive(self) -> list[Slot]:
        """The slots whose child runs."""
        return [slot for slot in self.slots if slot.pid is not None]

    def seconds_to_next_start(self) -> float | None:
        """Seconds until the next child is due to start (0: now), None if none is."""
        due = [slot.start_at for slot in self.slots if slot.pid is None and slot.start_at is not None]
        return max(0.0, min(due) - self.clock()) if due else None

    def wait(self, timeout: float | None) -> None:
        """Wait ``timeout`` seconds at most (None: no limit) for a child's end or an order to stop."""
        if self._wakeup is None:  # signals are not caught here: look again soon
            time.sleep(POLL_INTERVAL if timeout is None else min(timeout, POLL_INTERVAL))
            return
        read_fd = self._wakeup[0]
        if select.select([read_fd], [], [], timeout)[0]:
            try:
                while os.read(read_fd, 512):
                    pass
            except BlockingIOError:
                pass

    def abandon(self) -> None:
        """On a failure of the pool itself, SIGTERM the children and wait for each.

        They finish their current job; none is left behind."""
        self.stopping = True
        for slot in self.alive():
            self.signal_child(slot, signal.SIGTERM)
        for slot in self.alive():
            try:
                os.waitpid(slot.pid, 0)
            except ChildProcessError:
                pass
            slot.pid = None

    # --- signals

    def install_signal_handlers(self) -> None:
        """Catch the stop signals and SIGCHLD, each writing to the pipe that ends ``wait``.

        Main thread only: elsewhere ``wait`` polls, and the signals keep their handlers."""
        try:
            for signum in _CAUGHT:
                self._previous_handlers[signum] = signal.signal(signum, self._catch)
        except ValueError:  # not the main thread
            self.restore_signal_handlers()
            self.log("signals cannot be caught outside the main thread", level="debug")
            return
        read_fd, write_fd = os.pipe()
        for fd in (read_fd, write_fd):
            os.set_blocking(fd, False)
        self._wakeup = (read_fd, write_fd)
        self._previous_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)

    def restore_signal_handlers(self) -> None:
        """Give the signals back to the handlers they had, close the wake-up pipe."""
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous_handlers = {}
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            for fd in self._wakeup:
                os.close(fd)
            self._wakeup = None

    def _catch(self, signum: int, frame: Any) -> None:
        if signum != signal.SIGCHLD:  # SIGCHLD only ends the wait: the loop reaps
            self._pending.append(signum)

    def handle_signals(self) -> None:
        """Handle the signals caught since the last call, in order."""
        while self._pending:
            self.on_signal(self._pending.pop(0))

    def on_signal(self, signum: int) -> None:
        """Send a stop signal on to each child and start no child any more.

        A graceful signal is sent on the first time only."""
        name = signal.Signals(signum).name
        children = self.alive()
        if signum == STOP_NOW_SIGNAL:
            self.log(f"{name} caught: the {len(children)} worker processes stop now, putting their jobs "
                     "back", level="warning")
        elif self.stopping:
            self.log(f"{name} caught again: the worker processes still finish their current job "
                     f"({STOP_NOW_SIGNAL.name} stops them now)")
            return
        else:
            self.log(f"{name} caught: stopping; each of the {len(children)} worker processes finishes "
                     "its current job")
        self.stopping = True
        for slot in self.slots:
            if slot.pid is None:
                slot.start_at = None
        for slot in children:
            self.signal_child(slot, signum)
        self.set_title("stopping")

    def signal_child(self, slot: Slot, signum: int) -> None:
        """Send ``signum`` to the child of ``slot`` (if it is still there)."""
        if slot.pid is not None:
            try:
                os.kill(slot.pid, signum)
            except ProcessLookupError:  # it ended: the loop reaps it
                pass

    # --- children

    def reap(self) -> None:
        """Note the end of each child that ended."""
        for slot in self.alive():
            try:
                pid, status = os.waitpid(slot.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: its code is lost
                pid, status = slot.pid, RET_ERROR << 8
            if pid:
                self.child_exited(slot, os.waitstatus_to_exitcode(status), self.read_report(slot))

    def child_exited(self, slot: Slot, code: int, report: Report | None = None) -> None:
        """Log the end of a child (``code`` negative: its signal) and when its replacement starts."""
        now = self.clock()
        pid, ran = slot.pid, now - slot.started_at
        what = f"worker process {slot.number} (pid {pid}) {describe_exit(code)} after {ran:.1f}s"
        if report is not None:
            what += f", {report.jobs} job(s) taken"
        if self.stopping:
            slot.pid = slot.start_at = None
            self.log(what, level="info" if code == 0 else "warning")
        else:
            delay = slot.exited(code, now, self.backoff, report, self.final_when_clean)
            if delay is None:
                self.log(f"{what}: its work is done")
            elif delay == 0:
                self.log(f"{what}: starting a new one")
            else:
                self.log(f"{what}: starting a new one in {delay:g}s ({slot.failures} bad end(s) in a row)",
                         level="warning")
        self.set_title("stopping" if self.stopping else "running")

    def start_due(self) -> None:
        """Start a child in each slot whose time has come (none once stopping)."""
        if self.stopping:
            return
        for slot in self.slots:
            if slot.pid is None and slot.start_at is not None and slot.start_at <= self.clock():
                self.start(slot)

    def start(self, slot: Slot) -> None:
        """Start a child in ``slot`` (on failure, try again after the backoff)."""
        try:
            pid = self.start_child(slot)
        except OSError as exc:
            delay = slot.not_started(self.clock(), self.backoff)
            self.log(f"could not start worker process {slot.number} ({exc}): trying again in {delay:g}s",
                     level="error")
            return
        slot.started(pid, self.clock())
        self.log(f"worker process {slot.number} started{' again' if slot.starts > 1 else ''} (pid {pid})")
        self.set_title("running")

    def start_child(self, slot: Slot) -> int:
        """Fork a child running the worker; return its pid (the child never returns)."""
        self.write_report(slot, None)
        for stream in (sys.stdout, sys.stderr):  # what they hold would be written by the child too
            stream.flush()
        parent = os.getpid()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _CAUGHT)  # none lost, none handled by a copy of us
        try:
            pid = os.fork()
            if pid == 0:
                self._child(slot, mask, parent)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return pid

    def _child(self, slot: Slot, mask: Any, parent: int) -> NoReturn:
        """In a new child, run the command as with --processes=1 and exit with its code.

        It never returns into the pool's code, nor its caller's."""
        code = RET_ERROR
        try:
            self._become_child(mask, parent)
            if slot.queues is not None:
                self.config.options.queues = ",".join(slot.queues)
            code = run_command(self.config.prog_name, self.config.execute)
        except BaseException:
            try:
                self.logger.exception("[pool] worker process %s failed", slot.number)
            except BaseException:
                pass
        finally:
            try:
                worker = self.config.worker
                self.write_report(slot, _report_of(worker) if worker is not None else Report(0, False))
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def _become_child(self, mask: Any, parent: int) -> None:
        """Leave the pool's part in a new child.

        The signals go back to the command's handlers (then unblocked), the wake-up pipe is closed,
        and the child dies with the pool (``parent``)."""
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            for fd in self._wakeup:
                os.close(fd)
        self._previous_handlers, self._wakeup, self._pending = {}, None, []
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _die_with_parent(parent)
        self.config.options.processes = 1
        self.config.options.print_options = False  # printed once, by the pool
        self.config.worker = None

    def write_report(self, slot: Slot, report: Report | None) -> None:
        """Write what the child of ``slot`` says when it ends (None: nothing yet)."""
        if self._reports is not None:
            values = (-1, 0) if report is None else (report.jobs, int(report.limit_reached))
            _REPORT.pack_into(self._reports, _REPORT.size * (slot.number - 1), *values)

    def read_report(self, slot: Slot) -> Report | None:
        """What the child of ``slot`` said when it ended, or None if it said nothing (killed)."""
        if self._reports is None:
            return None
        jobs, limit_reached = _REPORT.unpack_from(self._reports, _REPORT.size * (slot.number - 1))
        return None if jobs < 0 else Report(jobs, bool(limit_reached))

    # --- what it shows

    def log(self, message: str, level: str = "info") -> None:
        """Log a line of the pool."""
        getattr(self.logger, level)("[pool] %s", message)

    def title(self, state: str) -> str:
        """``limpyd-jobs-worker-pool [running] processes=4 alive=4 queues=a,b``."""
        return (f"{self.title_prefix} [{state}] processes={self.processes} alive={len(self.alive())} "
                f"queues={','.join(self.queues)}")

    def set_title(self, state: str) -> None:
        """Show the pool's state in its process title (unless --no-title)."""
        if self.config.update_title:
            from setproctitle import setproctitle

            setproctitle(self.title(state))


def _report_of(worker: Any) -> Report:
    """What a child's worker did: jobs taken, and whether it stopped on a limit."""
    loops, limit = worker.num_loops, worker.max_loops
    end, wanted = worker.end_date, worker.wanted_end_date
    reached = bool((limit and loops >= limit) or (wanted and end and end >= wanted))
    return Report(loops, reached)


def _disconnect(models: list[Any]) -> None:
    """Close the pool's Redis connections: it needs none once its checks are done."""
    databases = {id(model.database): model.database for model in models if model is not None}
    for database in databases.values():
        database.connection.connection_pool.disconnect()


def _die_with_parent(parent: int) -> None:
    """On Linux, have this child get SIGTERM if the pool dies, even killed.

    It then finishes its job and exits: no worker is left running without its supervisor."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # here: only a child needs it

    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the pool died before that
        os.kill(os.getpid(), signal.SIGTERM)
