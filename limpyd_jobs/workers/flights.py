"""Many jobs in flight at once in one worker (``concurrency``): taken to fill the free slots, run
in lanes (``lanes.py``), ended in the worker's thread, where every hook and observer runs.

The worker's thread takes no more jobs than there are free slots (priorities hold as with
``prefetch``), and writes the successes that landed together, taking the next jobs along.
"""

from __future__ import annotations

import inspect
import queue
import threading
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ..exceptions import JobTimeout
from ..models import Job, Queue
from .attempt import Attempt
from .batch import PendingSuccess
from .executors import InProcessExecutor
from .lanes import Flight, LoopLane, ThreadLane

#: The execution modes of flights: every job on the threads, every job on the loop, or each where it fits.
THREADS, ASYNCIO, AUTO = "threads", "asyncio", "auto"
#: The longest the worker's thread waits for a landing before it looks at its table again (seconds).
LONGEST_WAIT = 1.0


class Flights:
    """The jobs a worker runs at once: launched into a lane, landed back in the worker's thread."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        mode = worker.execution_mode
        #: Whether jobs run in flights (else one at a time, through the executor).
        self.active = worker.concurrency > 1 or mode in (THREADS, ASYNCIO)
        self.mode = mode if mode in (THREADS, ASYNCIO) else AUTO
        self.size = worker.concurrency
        self.flying: dict[str, Flight] = {}
        self.landed: queue.SimpleQueue[Flight | None] = queue.SimpleQueue()
        self.interrupted = False
        self._threads = ThreadLane(self._land, self.size, worker.id)
        self._loop = LoopLane(self._land, worker.id)
        self._poke_armed = False
        self._poke_lock = threading.Lock()
        if self.active:
            worker.maintenance.add("flights", None, self.expire)

    def describe(self) -> str:
        """What the banner says: how many jobs at once, and where they run."""
        where = {THREADS: "threads", ASYNCIO: "asyncio",
                 AUTO: "asyncio for async def jobs, threads for the others"}[self.mode]
        return f"concurrency={self.size} ({where})"

    @property
    def room(self) -> int:
        """Free slots: jobs that may be taken now (within ``max_loops``)."""
        worker = self.worker
        room = self.size - len(self.flying) - len(worker.fetcher.kept_idents())
        if worker.max_loops:
            room = min(room, worker.max_loops - worker.num_loops - len(worker.fetcher.kept_idents()))
        return max(room, 0)

    # --- the loop

    def run_one(self) -> bool:
        """One pass: maintenance, end what landed, fill the free slots, wait if they are all full.
        True if a job was taken."""
        worker = self.worker
        worker.maintenance.run_due()
        if worker.must_stop():
            return False
        if worker.fetcher.take_lost:
            worker.upkeep.reconcile()
        self.settle(block=False)
        took = False
        while (len(self.flying) < self.size and (worker.fetcher.holds_one or self.room)
               and not worker.must_stop() and self._take_one()):
            took = True
        if len(self.flying) >= self.size and not worker.must_stop():
            self.settle(block=True)
        return took

    def _take_one(self) -> bool:
        """Take one job (waiting for one if none is kept), and launch it. True if one was taken."""
        worker = self.worker
        with self._poke_lock:  # armed before looking at the landings: none is missed
            self._poke_armed = bool(self.flying)
        if self.flying and not worker.fetcher.holds_one and not self.landed.empty():
            with self._poke_lock:
                self._poke_armed = False
            return False  # end those first: their write takes the next jobs along
        worker.notify("before_fetch", worker)
        worker.fetcher.prefetch = max(self.room, 1)  # never more taken than free slots
        try:
            queue, job = worker.wait_for_job() or (None, None)
        finally:
            with self._poke_lock:
                self._poke_armed = False
        attempt = worker.holdings.attempt_of(job, queue) if job is not None else None
        worker.notify("after_fetch", worker, attempt)
        if attempt is None:
            return False
        worker.num_loops += 1
        worker.upkeep.job_ran()
        self.launch(job, queue, attempt)
        return True

    def launch(self, job: Job, queue: Queue, attempt: Attempt) -> None:
        """Start a job in its lane (skip or delay it at once if it was not WAITING)."""
        worker = self.worker
        if not attempt.runs:
            try:
                worker.runner.handle(job, queue)
            finally:
                worker.holdings.drop(attempt.ident)
            return
        worker.set_status("running")
        worker.endings.call_hook(job, worker.job_started, job, queue)
        worker.notify("before_run", worker, attempt)
        code = worker.execute if job.runs_itself else worker.callback
        deadline = worker.clock.time() + attempt.timeout if attempt.timeout else None
        flight = Flight(job, queue, attempt, lambda: code(job, queue), deadline, worker.save_tracebacks)
        self.flying[attempt.ident] = flight
        if deadline is not None:
            worker.maintenance.want("flights", deadline)
        flight.lane = self._lane(job, code)
        flight.lane.submit(flight)

    def _lane(self, job: Job, code: Callable[..., Any]) -> ThreadLane | LoopLane:
        """The event loop for ``async def`` code, the threads for the rest (or the mode's lane)."""
        if self.mode != AUTO:
            return self._loop if self.mode == ASYNCIO else self._threads
        if inspect.iscoroutinefunction(code):
            return self._loop
        if code == self.worker.execute:  # the job's own ``run``: a task's function, or an async one
            runs_async = getattr(job, "runs_async", None)
            if runs_async() if runs_async is not None else inspect.iscoroutinefunction(job.run):
                return self._loop
        return self._threads

    # --- ends, in the worker's thread

    def _land(self, flight: Flight) -> None:
        """From a lane: a flight ended. Wakes the worker's thread if it waits for a job."""
        self.landed.put(flight)
        with self._poke_lock:
            poke, self._poke_armed = self._poke_armed, False
        if poke:  # it blocks on the wake-up lists: a token in its own list ends the wait
            try:
                self.worker.connection.rpush(self.worker.wakeup_key, "landed")
            except RedisError as exc:  # its wait ends at its timeout instead
                self.worker.log(f"could not wake the worker up ({exc})", level="debug")

    def settle(self, block: bool) -> None:
        """End the flights that landed (waiting for one if ``block``): errors one by one, the
        successes together, taking the next jobs along for the slots they free."""
        worker = self.worker
        landed = []
        if block:
            seconds = worker.maintenance.seconds_to_next()
            try:
                landed.append(self.landed.get(timeout=min(max(seconds or LONGEST_WAIT, 0.001), LONGEST_WAIT)))
            except queue.Empty:
                pass
        while True:
            try:
                landed.append(self.landed.get_nowait())
            except queue.Empty:
                break
        for flight in landed:
            if flight is not None and self.flying.pop(flight.attempt.ident, None) is flight:
                self._end(flight)
        if self.interrupted:
            self.give_back_all()
        worker.batch.write(count=self.room)  # 0: no take along

    def _end(self, flight: Flight) -> None:
        """Record how a landed flight ended (a success waits for the batch)."""
        worker = self.worker
        job, queue, attempt = flight.job, flight.queue, flight.attempt
        job.drop_snapshot()  # its end is written by scripts: read from Redis from now on
        worker.notify("after_run", worker, attempt, flight.error)
        if flight.error is None:
            worker.batch.pending[attempt.ident] = PendingSuccess(job, queue, attempt, flight.result,
                                                                 worker.clock.now())
            return
        try:
            worker.endings.call_hook(job, worker.job_error, job, queue, flight.error, flight.trace)
        finally:
            worker.holdings.drop(attempt.ident)

    def expire(self) -> None:
        """End the flights past their timeout: a coroutine is cancelled, a thread left to finish
        (its late end is discarded); each job is recorded as timed out."""
        worker = self.worker
        now = worker.clock.time()
        for ident, flight in list(self.flying.items()):
            if flight.deadline is None or flight.deadline > now:
                continue
            lane = flight.lane
            if not lane.abandon(flight):
                continue  # it landed meanwhile: ended as it came
            del self.flying[ident]
            job, queue = flight.job, flight.queue
            job.drop_snapshot()
            how = "cancelled" if lane is self._loop else "its thread left to finish, its end discarded"
            error = JobTimeout(f"job ran for more than {flight.attempt.timeout}s, {how}")
            try:
                worker.endings.call_hook(job, worker.job_error, job, queue, error)
            finally:
                worker.holdings.drop(ident)
        deadlines = [flight.deadline for flight in self.flying.values() if flight.deadline is not None]
        if deadlines:
            worker.maintenance.want("flights", min(deadlines))

    # --- the end of a run

    def interrupt(self) -> None:
        """Stop now (from the signal handler): the flights are given back by the worker's thread."""
        self.interrupted = True
        self.landed.put(None)

    def give_back_all(self) -> None:
        """Put every job in flight back at the front of its queue (their ends are discarded)."""
        worker = self.worker
        for ident, flight in reversed(list(self.flying.items())):  # each to the front: the first ends first
            if flight.lane.abandon(flight):
                del self.flying[ident]
                try:
                    worker.give_back(flight.job, flight.queue)
                finally:
                    worker.holdings.drop(ident)

    def drain(self) -> None:
        """At the end of a run: wait for the jobs in flight to end (or be given back), ending each."""
        if not self.active:
            return
        while self.flying:
            self.settle(block=True)
            self.expire()
        self.settle(block=False)
        self._threads.close()
        self._loop.close()


class FlightsExecutor(InProcessExecutor):
    """The executor of a worker running jobs in flights: a stop-now signal gives them back."""

    def __init__(self, flights: Flights, grace: float) -> None:
        super().__init__(lambda attempt, guard: None, grace)
        self.flights = flights
        self.name = flights.mode

    def interrupt(self) -> None:
        self.flights.interrupt()
