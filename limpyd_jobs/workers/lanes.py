"""Where jobs in flight run with ``concurrency``: a pool of threads, or one event loop in a thread.

A lane runs each ``Flight`` it is given and hands it back, ended, to ``land`` (called from the
lane's thread). A flight past its timeout is ``abandon``ed by the worker: a coroutine is
cancelled; a thread cannot be stopped, so it is replaced, and its late end is discarded.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..models import Job, Queue
from .attempt import Attempt

#: The states of a flight: running in its lane, ended there, or left by the worker.
RUNNING, LANDED, ABANDONED = "running", "landed", "abandoned"


@dataclass(eq=False)
class Flight:
    """One job in flight: what runs, what it gave, and where it stands."""

    job: Job
    queue: Queue
    attempt: Attempt
    #: The job's code: called in the lane; may return an awaitable (awaited there).
    call: Callable[[], Any]
    #: When it is late (the worker's clock), None: never.
    deadline: float | None = None
    save_trace: bool = True
    result: Any = None
    error: BaseException | None = None
    trace: str | None = None
    state: str = RUNNING
    task: Any = field(default=None, repr=False)  # its asyncio task, on the event loop
    lane: Any = field(default=None, repr=False)  # the lane it runs in

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.trace = traceback.format_exc() if self.save_trace else None


class Lane:
    """What both lanes share: the settling of a flight, ended or abandoned, under one lock."""

    name = ""

    def __init__(self, land: Callable[[Flight], None]) -> None:
        self.land = land
        self._lock = threading.Lock()

    def settle(self, flight: Flight, state: str) -> bool:
        """Move a running flight to ``state``; False if it was settled already (ended, or left)."""
        with self._lock:
            if flight.state != RUNNING:
                return False
            flight.state = state
            return True

    def ended(self, flight: Flight) -> None:
        """The flight's code ended: hand it back, unless the worker left it meanwhile."""
        if self.settle(flight, LANDED):
            self.land(flight)


class ThreadLane(Lane):
    """``size`` threads running one flight at a time each; a thread whose flight is abandoned is
    replaced at once (it ends once its job returns, and its end is discarded)."""

    name = "threads"

    def __init__(self, land: Callable[[Flight], None], size: int, worker_id: str) -> None:
        super().__init__(land)
        self.size = size
        self.worker_id = worker_id
        self._work: queue.SimpleQueue[Flight | None] = queue.SimpleQueue()
        self._started = 0
        self._spawning = threading.Lock()

    def submit(self, flight: Flight) -> None:
        with self._spawning:  # from the worker's thread, and from lanes starting a reserved job
            if not self._started:
                for _ in range(self.size):
                    self._spawn()
        self._work.put(flight)

    def abandon(self, flight: Flight) -> bool:
        """Leave a flight to its thread, and start another thread in its place."""
        if not self.settle(flight, ABANDONED):
            return False
        self._spawn()
        return True

    def close(self) -> None:
        """Let the threads end once the flights given are run (they are daemons: none holds the exit)."""
        for _ in range(self._started):
            self._work.put(None)

    def _spawn(self) -> None:
        self._started += 1
        in_shard = contextvars.copy_context()  # the worker's shard (shards.using) for the jobs' code
        threading.Thread(target=in_shard.run, args=(self._serve,), daemon=True,
                         name=f"limpyd-jobs-{self.worker_id}-{self._started}").start()

    def _serve(self) -> None:
        while True:
            flight = self._work.get()
            if flight is None:
                return
            if flight.state != RUNNING:  # left before it started (given back): never run here
                continue
            try:
                result = flight.call()
                if inspect.isawaitable(result):  # an ``async def`` callback, on a loop of its own
                    result = asyncio.run(_awaited(result))
                flight.result = result
            except BaseException as exc:  # noqa: BLE001  (the worker records it, the thread goes on)
                flight.fail(exc)
            if flight.state == ABANDONED:  # replaced: this thread ends with its late job
                return
            self.ended(flight)


class LoopLane(Lane):
    """One event loop, in a thread of its own, running each flight as a task."""

    name = "asyncio"

    def __init__(self, land: Callable[[Flight], None], worker_id: str) -> None:
        super().__init__(land)
        self.worker_id = worker_id
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._waiting: list[Flight] = []  # submitted, not started yet: started together
        self._called = False

    def submit(self, flight: Flight) -> None:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            in_shard = contextvars.copy_context()  # the worker's shard (shards.using) for the jobs' code
            self._thread = threading.Thread(target=in_shard.run, args=(self.loop.run_forever,), daemon=True,
                                            name=f"limpyd-jobs-{self.worker_id}-loop")
            self._thread.start()
        if threading.current_thread() is self._thread:  # a reserved job, from the loop: at once
            flight.task = self.loop.create_task(self._run(flight))
            return
        with self._lock:
            self._waiting.append(flight)
            if self._called:  # the loop is told already: it starts this one with the others
                return
            self._called = True
        self.loop.call_soon_threadsafe(self._start_waiting)

    def abandon(self, flight: Flight) -> bool:
        """Cancel a flight's task (its end is discarded)."""
        if not self.settle(flight, ABANDONED):
            return False
        self.loop.call_soon_threadsafe(lambda: flight.task is not None and flight.task.cancel())
        return True

    def close(self) -> None:
        """Stop the loop (the flights still on it are cancelled with the process)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)

    def _start_waiting(self) -> None:
        with self._lock:
            waiting, self._waiting, self._called = self._waiting, [], False
        for flight in waiting:
            if flight.state == RUNNING:
                flight.task = self.loop.create_task(self._run(flight))

    async def _run(self, flight: Flight) -> None:
        try:
            result = flight.call()
            if inspect.isawaitable(result):
                result = await result
            flight.result = result
        except asyncio.CancelledError:
            if flight.state == ABANDONED:
                return
            flight.fail(asyncio.CancelledError("the job's task was cancelled"))
        except BaseException as exc:  # noqa: BLE001  (the worker records it, the loop goes on)
            flight.fail(exc)
        self.ended(flight)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
