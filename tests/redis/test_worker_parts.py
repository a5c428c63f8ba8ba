"""The parts a Worker is made of, each on its own: maintenance table, executors, fetcher, due sets."""

from __future__ import annotations

import os
import threading
import time

import pytest
import redis
from helpers import wait_until

from limpyd_jobs import Job, Queue
from limpyd_jobs.due import DueSet
from limpyd_jobs.exceptions import WorkerInterrupted
from limpyd_jobs.testing.clock import ManualClock
from limpyd_jobs.workers import Worker
from limpyd_jobs.workers import fetcher as fetcher_module
from limpyd_jobs.workers.attempt import Attempt
from limpyd_jobs.workers.executors import DIED, DONE, EXECUTORS, INTERRUPTED, TIMEOUT
from limpyd_jobs.workers.fetcher import UNBLOCK_TRIES, Fetcher, WakeUpWait
from limpyd_jobs.workers.maintenance import Maintenance

# --- the maintenance table


def test_maintenance_runs_each_task_at_its_interval():
    clock, ran = ManualClock(), []
    table = Maintenance(clock)
    table.add("often", 10, lambda: ran.append("often"))
    table.add("always", 0, lambda: ran.append("always"))
    table.add("never", None, lambda: ran.append("never"))
    table.run_due()
    assert ran == ["often", "always"]  # every task is due at the first pass
    clock.advance(9)
    table.run_due()
    assert ran == ["often", "always", "always"]
    clock.advance(1)
    table.run_due()
    assert ran == ["often", "always", "always", "often", "always"]


def test_a_task_that_fails_stays_due():
    clock, calls = ManualClock(), []

    def flaky():
        calls.append(clock.time())
        if len(calls) == 1:
            raise ConnectionError("down")

    table = Maintenance(clock)
    table.add("flaky", 60, flaky)
    with pytest.raises(ConnectionError):
        table.run_due()
    table.run_due()  # not 60 s later: it did not run to its end
    table.run_due()
    assert len(calls) == 2


def test_the_wait_ends_at_the_next_task_that_wakes():
    clock = ManualClock()
    table = Maintenance(clock)
    table.add("keys", 25, lambda: None)
    table.add("recover", 15, lambda: None)
    table.add("purge", 5, lambda: None, wakes=False)
    table.run_due()
    clock.advance(4)
    assert table.seconds_to_next() == 11  # recover, in 15 - 4 s; purge does not wake the worker
    table.done("recover")
    assert table.seconds_to_next() == 15


# --- executors: a target in, an outcome out


def _attempt(timeout=None):
    return Attempt("limpyd_jobs.models.Job:1", "job:1", "w", "worker:1", ManualClock().now(), timeout,
                   "jobs:queue:1:waiting", "1", "q", 0)


@pytest.mark.parametrize("mode", ["inprocess", "fork", "prefork"])
def test_an_executor_runs_the_target_and_says_it_is_done(mode, tmp_path):
    record = tmp_path / "pids"

    def target(attempt, guard):
        with record.open("a") as handle:
            handle.write(f"{attempt.identifier}:{os.getpid()}\n")

    executor = EXECUTORS[mode](target, grace=1)
    try:
        outcomes = [executor.execute(_attempt()).kind for _ in range(2)]
    finally:
        executor.close()
    assert outcomes == [DONE, DONE]
    pids = [line.split(":")[-1] for line in record.read_text().splitlines()]
    assert len(pids) == 2
    assert (str(os.getpid()) in pids) == (mode == "inprocess")
    assert len(set(pids)) == (2 if mode == "fork" else 1)  # a pre-forked child is reused


@pytest.mark.parametrize("mode", ["fork", "prefork"])
def test_a_forked_executor_says_when_the_process_died(mode):
    executor = EXECUTORS[mode](lambda attempt, guard: os._exit(3), grace=1)
    try:
        outcome = executor.execute(_attempt())
    finally:
        executor.close()
    assert outcome.kind == DIED and outcome.detail == "exit code 3"


@pytest.mark.parametrize("mode", ["fork", "prefork"])
def test_a_forked_executor_stops_a_late_target(mode):
    def late(attempt, guard):
        with guard(attempt.timeout):
            time.sleep(3600)  # a test whose child is not stopped hangs (and pytest-timeout fails it)

    executor = EXECUTORS[mode](late, grace=0.5)
    try:
        assert executor.execute(_attempt(timeout=0.2)).kind == TIMEOUT
    finally:
        executor.close()


def test_the_in_process_executor_says_when_it_was_interrupted():
    def interrupted(attempt, guard):
        raise WorkerInterrupted()

    assert EXECUTORS["inprocess"](interrupted, grace=1).execute(_attempt()).kind == INTERRUPTED


def test_only_the_in_process_executor_shares_the_worker_process():
    assert {mode: executor.shares_worker_process for mode, executor in EXECUTORS.items()} == {
        "inprocess": True, "fork": False, "prefork": False}


def test_an_attempt_crosses_to_a_child_as_plain_data():
    attempt = _attempt(timeout=3.5)
    assert Attempt.from_dict(attempt.to_dict()) == attempt


# --- the fetcher


def test_the_fetcher_orders_queues_by_priority_then_names_and_follows_a_cycle(clock):
    for name, priority in (("B", 0), ("A", 0), ("A", 5)):
        Queue.get_queue(name, priority)
    b_named_first = Fetcher(Queue, ["B", "A"], None, "w1", clock)
    b_named_first.refresh()
    assert [(info.name, info.priority) for info in b_named_first.queues] == [("A", 5), ("B", 0), ("A", 0)]
    fetcher = Fetcher(Queue, ["A", "B"], None, "w1", clock)
    keys = fetcher.refresh()
    assert [(info.name, info.priority) for info in fetcher.queues] == [("A", 5), ("A", 0), ("B", 0)]
    assert fetcher.order(keys) == keys
    cycling = Fetcher(Queue, ["A", "B"], ["B", "A"], "w1", clock)
    cycling.refresh()
    b_first, a_first = cycling.order(keys), cycling.order(keys)
    assert b_first == [keys[2], keys[0], keys[1]] and a_first == keys


def test_the_fetcher_takes_and_keeps_the_counts(clock):
    job = Job.add_job(identifier="job:1", queue_name="q")
    Job.add_job(identifier="later", queue_name="q", delayed_for=60)
    fetcher = Fetcher(Queue, ["q"], None, "w1", clock)
    fetcher.want_counts = True
    keys = fetcher.refresh()
    taken = fetcher.take(keys)
    assert (taken.ident, taken.attempt) == (job.ident, "w1:1")
    assert fetcher.counts == (0, 1)
    assert fetcher.take(keys) is None


@pytest.mark.parametrize("prefetch", [1, 3])
def test_a_woken_fetcher_wakes_another_worker_when_it_leaves_jobs(clock, connection, prefetch):
    for number in range(prefetch + 1):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    fetcher = Fetcher(Queue, ["q"], None, "w1", clock, prefetch=prefetch)
    keys = fetcher.refresh()
    [wakeup_key] = fetcher.wakeup_keys()
    connection.delete(wakeup_key)  # the tokens of the adds: the one the take passes on is counted
    assert fetcher.take(keys, woken=True).identifier == "job:0"
    assert connection.llen(wakeup_key) == 1  # one job left: an idle worker of "q" is woken for it
    for _ in range(prefetch - 1):
        fetcher.take(keys, woken=True)  # kept from the batch: no script runs
    fetcher.take(keys, woken=True)  # the last job: nothing left, nobody else woken
    assert connection.llen(wakeup_key) == 1


# --- due sets


def test_a_due_set_reads_what_is_due_with_its_clock(connection):
    clock = ManualClock()
    due = DueSet(connection, "test:due", clock)
    due.place("b", clock.time() + 60)
    due.place("a", clock.time() + 10)
    assert due.first() == ("a", clock.time() + 10) and len(due) == 2
    assert due.count_due() == 0
    clock.advance(30)
    assert due.count_due() == 1
    assert due.due_at("b") == clock.time() + 30
    assert due.remove("a") and not due.remove("a")
    assert due.entries() == [("b", clock.time() + 30)]


def test_a_task_that_never_ran_does_not_bound_the_wait():
    clock = ManualClock()
    table = Maintenance(clock)
    table.add("keys", 25, lambda: None)
    table.add("recover", 15, lambda: None)
    assert table.seconds_to_next() is None  # a maintain() that runs nothing must not make a worker spin
    table.done("keys")
    assert table.seconds_to_next() == 25


# --- the wait for an announced job


def test_a_cut_ends_a_blocked_wait_at_once(threads):
    wait = WakeUpWait(Queue.database, ["nothing:comes"], timeout=3600)
    stopping = threading.Event()
    connection = Queue.get_connection()

    def cut_once_blocked():
        while not any(client["cmd"] == "blpop" for client in connection.client_list()):
            time.sleep(0.01)
        stopping.set()  # as a stop signal does, before it cuts the wait
        wait.cut()

    threads.start(cut_once_blocked)
    assert wait.wait(3600, stopping.is_set) is False  # pytest-timeout fails a wait the cut left alone
    assert wait.woken_by is None


def test_a_timed_wait_ends_on_this_process_timer_not_redis():
    """Redis ends a blocking timeout up to 1000/hz ms late: the wait's own timer ends it (here a
    timer that has run out at once; Redis's own timeout, an hour, would fail the test)."""
    wait = WakeUpWait(Queue.database, ["nothing:comes"], timeout=3600,
                      reply_within=lambda connection, seconds: False)
    assert wait.wait(3600, lambda: False) is False
    assert wait.woken_by is None
    Queue.get_connection().rpush("nothing:comes", "token")
    assert wait.wait(3600, lambda: False) is True  # the same connection, unblocked, waits again
    assert wait.woken_by == "nothing:comes"


def test_a_token_that_comes_as_the_timer_ends_is_not_lost():
    connection = Queue.get_connection()

    def token_then_time_is_up(blocked, seconds):
        connection.rpush("wake:q", "token")  # served to the blocked BLPOP before the unblock
        return False

    wait = WakeUpWait(Queue.database, ["wake:q"], timeout=3600, reply_within=token_then_time_is_up)
    assert wait.wait(3600, lambda: False) is True
    assert wait.woken_by == "wake:q" and connection.llen("wake:q") == 0


def test_a_wait_the_unblock_misses_still_ends_at_redis_own_timeout():
    wait = WakeUpWait(Queue.database, ["nothing:comes"], timeout=3600,
                      reply_within=lambda connection, seconds: False)
    assert wait.wait(3600, lambda: False) is False  # its connection and id, as usual
    wait._client_id = 0  # no such client: the unblock ends nothing (as on a Redis without it)
    assert wait.wait(0.05, lambda: False) is False  # Redis's own timeout, the backstop, ends it
    assert wait.woken_by is None


def test_a_wait_on_a_new_connection_unblocks_the_new_client(redis_server):
    wait = WakeUpWait(Queue.database, ["nothing:comes"], timeout=3600,
                      reply_within=lambda connection, seconds: False)
    assert wait.wait(3600, lambda: False) is False
    client = redis_server.client(decode_responses=True)
    assert client.client_kill_filter(_id=wait._client_id) == 1  # its connection is gone
    with pytest.raises(redis.ConnectionError):
        wait.wait(3600, lambda: False)  # the worker's loop sees an outage, and waits again
    assert wait.wait(3600, lambda: False) is False  # on a new connection, whose id is read again


def test_a_timed_wait_costs_one_unblock_and_its_connection_id_once(redis_server):
    wait = WakeUpWait(Queue.database, ["nothing:comes"], timeout=3600,
                      reply_within=lambda connection, seconds: False)
    client = redis_server.client(decode_responses=True)
    client.config_resetstat()
    for _ in range(3):
        assert wait.wait(3600, lambda: False) is False
    stats = client.info("commandstats")
    # one each, or again if it came before its BLPOP (another connection): each wait ended
    assert 3 <= stats["cmdstat_client|unblock"]["calls"] <= 3 * UNBLOCK_TRIES
    assert stats["cmdstat_client|id"]["calls"] == 1
    assert stats["cmdstat_blpop"]["calls"] == 3


def test_an_unblock_that_comes_before_its_blpop_is_sent_again(redis_server, threads, monkeypatch):
    monkeypatch.setattr(fetcher_module, "UNBLOCK_PAUSE", 0.5)  # room for the BLPOP to come between two
    wait = WakeUpWait(Queue.database, ["nothing:comes"], timeout=3600)
    connection = wait._connect()
    connection.connect()
    connection.send_command("CLIENT", "ID")
    wait._client_id = int(connection.read_response())
    client = redis_server.client(decode_responses=True)
    client.config_resetstat()
    threads.start(lambda: wait._unblock(connection))  # sent before the BLPOP: it finds nothing blocked
    wait_until(lambda: "cmdstat_client|unblock" in client.info("commandstats"), 10, "a first unblock")
    connection.send_command("BLPOP", "nothing:comes", 3600)
    threads.join()
    assert connection.read_response() is None  # ended by the unblock sent again, not in an hour
    assert client.info("commandstats")["cmdstat_client|unblock"]["calls"] >= 2


# --- a worker's parts


def test_a_worker_builds_its_parts_once(make_worker):
    Job.add_job(identifier="job:1", queue_name="q")
    worker = make_worker(callback=lambda job, queue: None, max_loops=1)
    parts = [worker.fetcher, worker.waiter, worker.executor, worker.recorder, worker.maintenance,
             worker.holdings, worker.presence]
    worker.run()
    assert worker.num_loops == 1
    assert all(after is before for after, before in zip(
        [worker.fetcher, worker.waiter, worker.executor, worker.recorder, worker.maintenance,
         worker.holdings, worker.presence], parts, strict=True))


def test_the_wait_of_a_worker_comes_from_its_waiter_factory(make_worker):
    made = []

    class Recorded(Worker):
        waiter_factory = staticmethod(lambda worker: made.append(worker) or WakeUpWait(
            worker.queue_model.database, [worker.wakeup_key], worker.timeout))

    worker = Recorded("q", terminate_gracefuly=False)
    assert made == [worker] and worker.waiter.keys == [worker.wakeup_key]
