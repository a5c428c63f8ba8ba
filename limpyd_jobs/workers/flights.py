"""Many jobs in flight at once in one worker (``concurrency``): taken to fill the free slots, run
in lanes (``lanes.py``), ended in the worker's thread, where every hook and observer runs.

The worker's thread takes no more jobs than the slots and a small reserve (priorities hold as with
``prefetch``), and writes the successes that landed together, taking the next jobs along. A slot
whose job ends starts a reserved job at once, without waiting for that write.
"""

from __future__ import annotations

import inspect
import queue
import threading
from collections import deque
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
#: The most jobs reserved: taken ahead of the slots (a quarter of them), started as slots free.
MOST_RESERVED = 128
#: What a lane tells the worker's thread: a reserved job started, a job ended.
STARTED, LANDED = "started", "landed"


class Flights:
    """The jobs a worker runs at once: launched into a lane, landed back in the worker's thread."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        mode = worker.execution_mode
        #: Whether jobs run in flights (else one at a time, through the executor).
        self.active = worker.concurrency > 1 or mode in (THREADS, ASYNCIO)
        self.mode = mode if mode in (THREADS, ASYNCIO) else AUTO
        self.size = worker.concurrency
        #: Jobs taken ahead of the slots, each started by the first slot that frees (0: none).
        self.reserve = min(self.size // 4, MOST_RESERVED) if self.active else 0
        #: Every job held here, in a slot or reserved, by ident.
        self.flying: dict[str, Flight] = {}
        self.reserved: deque[Flight] = deque()
        self.busy = 0  # slots running a job: changed with ``reserved``, under ``_slots``
        self._slots = threading.Lock()
        #: The reserved jobs taken back at the end of a run, to be given back in their order.
        self.withdrawn: list[str] = []
        self.landed: queue.SimpleQueue[tuple[str, Flight] | None] = queue.SimpleQueue()
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
    def in_flight(self) -> int:
        """The jobs running in a slot (the reserved ones aside)."""
        return len(self.flying) - len(self.reserved)

    @property
    def room(self) -> int:
        """Free slots and reserve: jobs that may be taken now (within ``max_loops``)."""
        worker = self.worker
        kept = worker.fetcher.kept_count
        room = self.size + self.reserve - len(self.flying) - kept
        if worker.max_loops:
            room = min(room, worker.max_loops - worker.num_loops - kept)
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
        while (len(self.flying) < self.size + self.reserve and (worker.fetcher.holds_one or self.room)
               and not worker.must_stop() and self._take_one()):
            took = True
        if len(self.flying) >= self.size + self.reserve and not worker.must_stop():
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
        worker.fetcher.prefetch = max(self.room, 1)  # never more taken than free slots and reserve
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
        """Start a job in its lane if a slot is free, else reserve it (skip or delay it at once
        if it was not WAITING)."""
        worker = self.worker
        if not attempt.runs:
            try:
                worker.runner.handle(job, queue)
            finally:
                worker.holdings.drop(attempt.ident)
            return
        code = worker.execute if job.runs_itself else worker.callback
        flight = Flight(job, queue, attempt, lambda: code(job, queue), None, worker.save_tracebacks)
        flight.lane = self._lane(job, code)
        self.flying[attempt.ident] = flight
        with self._slots:
            free = self.busy < self.size
            if free:
                self.busy += 1
            else:
                self.reserved.append(flight)
        if free:
            self._announce(flight)  # its hooks before it starts
            self._start(flight)

    def _announce(self, flight: Flight) -> None:
        """In the worker's thread: the hooks of a job's start (after it, for a reserved job)."""
        worker, job, queue = self.worker, flight.job, flight.queue
        worker.set_status("running")
        worker.endings.call_hook(job, worker.job_started, job, queue)
        worker.notify("before_run", worker, flight.attempt)
        if flight.attempt.timeout:
            worker.maintenance.want("flights", worker.clock.time() + flight.attempt.timeout)

    def _start(self, flight: Flight) -> None:
        """Run a flight in its lane now (from any thread): its timeout counts from now."""
        if flight.attempt.timeout:
            flight.deadline = self.worker.clock.time() + flight.attempt.timeout
        flight.lane.submit(flight)

    def _free_slot(self) -> Flight | None:
        """A slot's job ended: the first reserved job starts in it (returned), else it is free
        (none starts once a stop signal came: they go back)."""
        holding_back = self.worker.signals.stopping.is_set()
        with self._slots:
            following = self.reserved.popleft() if self.reserved and not holding_back else None
            if following is None:
                self.busy -= 1
        if following is not None:
            self.landed.put((STARTED, following))  # before it can land: its hooks come first
            self._start(following)
        return following

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
        """From a lane: a flight ended; a reserved job starts in its slot. Wakes the worker's
        thread if it waits for a job."""
        self.landed.put((LANDED, flight))
        self._free_slot()
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
        for event in landed:
            if event is None:
                continue
            what, flight = event
            if what == STARTED:
                if self.flying.get(flight.attempt.ident) is flight:
                    self._announce(flight)
            elif self.flying.pop(flight.attempt.ident, None) is flight:
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
            if flight.deadline is None or flight.deadline > now:  # None: no timeout, or reserved
                continue
            lane = flight.lane
            if not lane.abandon(flight):
                continue  # it landed meanwhile: ended as it came
            del self.flying[ident]
            self._free_slot()  # its thread, if any, is replaced: the slot is free
            job, queue = flight.job, flight.queue
            job.drop_snapshot()
            how = "cancelled" if lane is self._loop else "its thread left to finish, its end discarded"
            error = JobTimeout(f"job ran for more than {flight.attempt.timeout}s, {how}")
            try:
                worker.endings.call_hook(job, worker.job_error, job, queue, error)
            finally:
                worker.holdings.drop(ident)
        deadlines = [flight.deadline for flight in self.flying.values() if flight.deadline is not None]
        deadlines += [now + flight.attempt.timeout for flight in self.reserved if flight.attempt.timeout]
        if deadlines:
            worker.maintenance.want("flights", min(deadlines))

    # --- the end of a run

    def interrupt(self) -> None:
        """Stop now (from the signal handler): the flights are given back by the worker's thread."""
        self.interrupted = True
        self.landed.put(None)

    def withdraw(self) -> None:
        """Take back the reserved jobs: none starts any more (``unstarted`` gives them)."""
        with self._slots:
            withdrawn, self.reserved = list(self.reserved), deque()
        for flight in withdrawn:
            del self.flying[flight.attempt.ident]
        self.withdrawn += [flight.attempt.ident for flight in withdrawn]

    def unstarted(self) -> list[str]:
        """The reserved jobs taken back (the reserve emptied first), in their order, to give back."""
        self.withdraw()
        withdrawn, self.withdrawn = self.withdrawn, []
        return withdrawn

    def give_back_all(self) -> None:
        """Put every job in flight back at the front of its queue (their ends are discarded), the
        reserved and kept ones behind them, all in their order."""
        worker = self.worker
        worker.holdings.give_back_unstarted(self.unstarted())  # first: those in flight go in front
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
        worker = self.worker
        counted = worker.lookout.burst_over or (worker.max_loops and worker.num_loops >= worker.max_loops)
        while True:
            if worker.end_signal_caught or not counted:  # a burst's or max_loops' own end runs them
                self.withdraw()  # given back as prefetched jobs are (a signal may come while draining)
            if not self.flying:
                break
            self.settle(block=True)
            self.expire()
            worker.update_proc_title()  # the jobs still in flight
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
