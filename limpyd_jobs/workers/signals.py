"""A worker's stop signals: stop after the current job (SIGINT, SIGTERM, SIGHUP) or now (SIGQUIT)."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopSignals:
    """Routes the stop signals to a worker's ``catch_*`` methods, gives the previous handlers
    back, and holds the events its waits and writes watch."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        #: Set by a stop signal: ends waits.
        self.stopping = threading.Event()
        #: Set by SIGQUIT: ends the retries of writes too.
        self.stopping_now = threading.Event()
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Route SIGINT, SIGTERM and SIGHUP to ``catch_end_signal``, SIGQUIT to ``catch_stop_now_signal``."""
        worker = self.worker
        handlers = {signal.SIGINT: worker.catch_end_signal, signal.SIGTERM: worker.catch_end_signal,
                    signal.SIGHUP: worker.catch_end_signal, signal.SIGQUIT: worker.catch_stop_now_signal}
        for signum, handler in handlers.items():
            try:
                self._previous[signum] = signal.signal(signum, handler)
            except ValueError:  # not the main thread: signals cannot be caught here
                worker.log("cannot catch signals outside the main thread", level="debug")
                return

    def restore(self) -> None:
        """Give the stop signals back to the handlers they had before ``install``."""
        for signum, handler in self._previous.items():
            try:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
            except ValueError:
                pass
        self._previous = {}

    def end(self, signum: int) -> None:
        """Stop once the current job is done (again: the job still finishes; SIGQUIT stops now)."""
        worker = self.worker
        worker.signals_caught += 1
        if worker.end_signal_caught:
            worker.log(f"signal {signum} caught again: stopping after the current job (SIGQUIT stops now)")
            return
        self._stop()
        worker.log(f"signal {signum} caught, stopping after the current job")

    def now(self, signum: int) -> None:
        """Stop now: interrupt the running job (it is given back to the front of its queue)."""
        self.worker.signals_caught += 1
        self._stop()
        if self.stopping_now.is_set():
            return
        self.stopping_now.set()
        self.worker.log(f"signal {signum} caught, stopping now", level="warning")
        self.worker.executor.interrupt()  # in-process, this raises in the running job

    def _stop(self) -> None:
        self.worker.end_signal_caught = self.worker.end_forced = True
        self.stopping.set()
        self.worker.waiter.cut()
