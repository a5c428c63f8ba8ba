"""The operations API (limpyd_jobs.operations): reads by queue name, job and worker operations,
each alone and while workers run (no job lost, none run twice, none left WAITING in no list)."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from helpers import TrackedWorker, Tracker, tracked_worker
from sample_jobs import HookJob

from limpyd_jobs import STATUSES, Job, Queue
from limpyd_jobs import operations as ops
from limpyd_jobs.exceptions import InvalidIdent
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.protocol.scripts import beat
from limpyd_jobs.testing.server import free_port


def burst(make_worker, callback: Callable[[Job, Queue], Any], **options: Any) -> None:
    """Run a worker until its queues are empty, the queues retries make included."""
    make_worker(callback=callback, burst=True, fetch_priorities_delay=0, **options).run()


def statuses(idents: list[str]) -> dict[str, str]:
    return {ident: Job.get_from_ident(ident).status.hget() for ident in idents}


def assert_nothing_stuck(connection) -> None:
    """No job is queued outside a list or a running set: every queued job is in its queue's
    waiting list or delayed set, or a worker's running set."""
    queued = connection.smembers(KEYS.index(model=Job._name, field="queued", value="1"))
    running = {ident for worker in connection.zrange(KEYS.workers(), 0, -1)
               for ident in connection.zrange(KEYS.running(worker=worker), 0, -1)}
    for pk in queued:
        ident = f"{Job.get_model_repr()}:{pk}"
        queue = connection.hget(KEYS.hash(model=Job._name, pk=pk), "queue_key")
        in_list = (connection.lpos(KEYS.queue_list(queue=queue, list="waiting"), ident) is not None
                   or connection.zscore(KEYS.queue_list(queue=queue, list="delayed"), ident) is not None)
        assert in_list or ident in running, f"{ident} is queued in no list"


# --- reads


def test_counts_are_list_lengths_of_every_priority_and_failures_the_jobs_in_error(make_worker):
    tries: Counter[str] = Counter()

    def callback(job, queue):
        identifier = job.identifier.hget()
        tries[identifier] += 1
        if identifier == "bad" or (identifier == "flaky" and tries[identifier] == 1):
            raise ValueError(identifier)

    for identifier, priority in [("bad", 1), ("flaky", 0), ("good", 0)]:
        Job.add_job(identifier=identifier, queue_name="q", priority=priority)
    burst(make_worker, callback, requeue_times=2, requeue_delay_delta=0)
    Job.add_job(identifier="waits", queue_name="q")
    Job.add_job(identifier="later", queue_name="q", delayed_for=600)
    Job.add_job(identifier="other", queue_name="other-queue")

    entries = sum(queue.errors.llen() for queue in Queue.get_all("q"))
    assert entries == 4  # bad failed 3 times (at priorities 1, 0, -1), flaky once
    counts = ops.counts("q")
    assert counts.priorities == [1, 0, -1]
    # success and error count the runs ended so (kept): bad's three failed runs and flaky's one
    assert (counts.waiting, counts.delayed, counts.running, counts.success, counts.error) == (1, 1, 0, 2, 4)
    assert [info.identifier for info, _ in ops.failures("q")] == ["bad"]  # each job in ERROR once
    assert [info.identifier for info in ops.jobs("q", "error")] == ["bad", "bad", "bad", "flaky"]
    assert not counts.paused
    assert [count.name for count in ops.all_counts()] == ["other-queue", "q"]
    assert ops.queue_names() == ["other-queue", "q"]
    with pytest.raises(ops.UnknownQueue, match="no queue named 'nope'"):
        ops.counts("nope")


def test_jobs_pages_each_state_in_the_order_that_matters(clock, make_clocked_worker):
    low = [Job.add_job(identifier=f"low:{i}", queue_name="q", priority=0) for i in range(3)]
    high = [Job.add_job(identifier=f"high:{i}", queue_name="q", priority=5) for i in range(2)]
    late = Job.add_job(identifier="late", queue_name="q", delayed_for=300)
    soon = Job.add_job(identifier="soon", queue_name="q", delayed_for=100)
    waiting = [job.ident for job in high + low]
    assert [info.ident for info in ops.jobs("q", "waiting", limit=10)] == waiting
    assert [info.ident for info in ops.jobs("q", "waiting", offset=1, limit=3)] == waiting[1:4]
    assert [info.ident for info in ops.jobs("q", "waiting", offset=4, limit=3)] == waiting[4:]
    assert ops.jobs("q", "waiting", limit=0) == []
    assert [info.ident for info in ops.jobs("q", "delayed")] == [soon.ident, late.ident]
    assert [info.ident for info in ops.jobs("q", "delayed", offset=1)] == [late.ident]

    def callback(job, queue):
        clock.advance(1)
        if job.identifier.hget() == "low:1":
            raise ValueError("no")

    make_clocked_worker(callback=callback, max_loops=5).run()  # the waiting ones, one second apart
    assert [info.ident for info in ops.jobs("q", "success")] == [low[2].ident, low[0].ident, high[1].ident,
                                                                 high[0].ident]
    assert [info.ident for info in ops.jobs("q", "success", offset=3)] == [high[0].ident]
    (failed,) = ops.jobs("q", "error")
    assert (failed.ident, failed.status, failed.identifier, failed.queue) == (
        low[1].ident, "ERROR", "low:1", "q")
    assert ops.cancel(late) == "canceled"
    assert [info.ident for info in ops.jobs("q", "canceled")] == [late.ident]
    with pytest.raises(ValueError, match="state must be one of"):
        ops.jobs("q", "lost")


def test_find_job_by_ident_or_queue_and_identifier(connection):
    first = Job.add_job(identifier="photo:1", queue_name="images")
    assert ops.cancel(first) == "canceled"
    second = Job.add_job(identifier="photo:1", queue_name="images")
    elsewhere = Job.add_job(identifier="a/b", queue_name="videos/hd")
    assert ops.find_job(first.ident).ident == first.ident
    assert ops.find_job("images/photo:1").ident == second.ident  # the queued one
    assert ops.find_job(" videos/hd/a/b ").ident == elsewhere.ident  # the first split naming a queue
    with pytest.raises(ops.UnknownJob, match="no job 'photo:1' in queue 'videos/hd'"):
        ops.find_job("videos/hd/photo:1")
    assert ops.cancel(second) == "canceled"
    assert ops.find_job("images/photo:1").ident == second.ident  # none queued: the latest
    info = ops.find_job(second.ident)
    assert (info.status, info.identifier, info.queue, info.model, info.pk) == (
        "CANCELED", "photo:1", "images", Job._name, second.pk.get())
    assert info.job().pk.get() == second.pk.get()

    for text, error, message in [
        ("images", InvalidIdent, "names no job"),
        ("not an ident:3", InvalidIdent, "names no job"),
        ("limpyd_jobs.models.Job:", InvalidIdent, "names no job"),
        ("limpyd_jobs.models.Job:999", ops.UnknownJob, "no job limpyd_jobs.models.Job:999"),
        ("images/photo:2", ops.UnknownJob, "no job 'photo:2' in queue 'images'"),
        ("sounds/photo:1", ops.UnknownQueue, "no queue named 'sounds'"),
        ("/photo:1", InvalidIdent, "names no job"),
        ("os.path.Job:1", ops.UnknownJob, "'os.path.Job' is not a registered Job model"),
    ]:
        with pytest.raises(error, match=message):
            ops.find_job(text)


def test_a_job_is_read_without_importing_what_redis_names(connection):
    job = Job.add_job(identifier="x", queue_name="q")
    # a registry entry naming a module nobody imported: the job is read, the module not imported
    connection.hset(KEYS.job_models(), "evil_module_not_imported.Job", Job._name)
    info = ops.find_job(f"evil_module_not_imported.Job:{job.pk.get()}")
    assert info.identifier == "x" and info.status == "WAITING"
    assert "evil_module_not_imported" not in sys.modules
    with pytest.raises(InvalidIdent):
        info.job()  # a Job instance needs a model of this process
    assert "evil_module_not_imported" not in sys.modules


# --- cancel


def test_cancel_a_waiting_or_delayed_job_unqueues_it_and_adding_again_makes_a_new_job(connection, clock):
    waiting = Job.add_job(identifier="a", queue_name="q")
    delayed = Job.add_job(identifier="b", queue_name="q", delayed_for=60)
    assert Job.add_job(identifier="a", queue_name="q").pk.get() == waiting.pk.get()
    assert ops.cancel(waiting) == "canceled"
    assert ops.cancel(delayed.ident) == "canceled"
    for job in (waiting, delayed):
        assert job.status.hget() == STATUSES.CANCELED and job.queued.hget() is None
    queue = Queue.get_queue("q")
    assert queue.waiting.llen() == 0 and queue.delayed.zcard() == 0
    assert ops.cancel(waiting) == "already"  # a retry after a lost reply: nothing more
    told = [(event["event"], event["at"], event["by"], event["status"]) for event in waiting.events()[1:]]
    assert told == [("canceled", clock.now(), "operator", STATUSES.WAITING)]  # once, in its history
    again = Job.add_job(identifier="a", queue_name="q")
    assert again.pk.get() != waiting.pk.get() and again.status.hget() == STATUSES.WAITING
    assert queue.waiting.lmembers() == [again.ident]
    assert_nothing_stuck(connection)


def test_cancel_refuses_finished_jobs_and_says_when_one_is_missing(make_worker):
    done = Job.add_job(identifier="done", queue_name="q")
    failed = Job.add_job(identifier="failed", queue_name="q")
    make_worker(callback=lambda job, queue: 1 / (job.identifier.hget() == "done"), burst=True).run()
    for job, status in ((done, "SUCCESS"), (failed, "ERROR")):
        with pytest.raises(ops.JobStateError, match=f"is {status}: a finished job cannot be canceled"):
            ops.cancel(job)
    assert (done.status.hget(), failed.status.hget()) == (STATUSES.SUCCESS, STATUSES.ERROR)
    with pytest.raises(ops.UnknownJob):
        ops.cancel(f"{Job.get_model_repr()}:999")


def test_cancel_a_running_job_marks_it_and_its_worker_ends_it_as_canceled(connection, running):
    tracker, go = Tracker(), threading.Event()
    job = HookJob.add_job(identifier="long", queue_name="q")
    worker = tracked_worker(tracker, lambda job, queue: tracker.gate(go))
    running.start(worker)
    tracker.wait_for(lambda: tracker.blocked == 1)
    assert ops.cancel(job) == "marked"
    assert job.status.hget() == STATUSES.CANCELED
    assert job.queued.hget() == "1"  # held by its worker until its end: never in no place
    (info,) = ops.jobs("q", "running")  # it still runs, until its worker ends it
    assert (info.ident, info.status, info.worker) == (job.ident, "CANCELED", worker.id)
    assert ops.counts("q").running == 1
    assert ops.cancel(job) == "already"
    go.set()
    tracker.wait_for(lambda: tracker.ends["skipped"] == 1)
    running.stop()
    assert job.status.hget() == STATUSES.CANCELED and job.queued.hget() is None
    assert connection.lrange(f"hooks:{job.pk.get()}", 0, -1) == ["started", "skipped"]
    assert Queue.get_queue("q").success.llen() == 0
    assert connection.zcard(KEYS.running(worker=worker.id)) == 0
    again = HookJob.add_job(identifier="long", queue_name="q")
    assert again.pk.get() != job.pk.get()


class RequeueGate(TrackedWorker):
    """Stops in ``requeue_job`` (a failed job's retry, about to be written) until ``go``."""

    go: threading.Event

    def requeue_job(self, job: Job, queue: Queue, priority: int, delayed_for: float | None = None) -> None:
        self.tracker.gate(self.go)
        super().requeue_job(job, queue, priority, delayed_for)


def test_cancel_a_failed_job_its_worker_is_about_to_requeue(connection, running):
    tracker = Tracker()
    job = Job.add_job(identifier="retried", queue_name="q")
    worker = RequeueGate("q", callback=lambda job, queue: 1 / 0, requeue_times=3, timeout=0.05,
                         terminate_gracefuly=False)
    worker.tracker, worker.go = tracker, threading.Event()
    running.start(worker)
    tracker.wait_for(lambda: tracker.blocked == 1)
    assert (job.status.hget(), job.queued.hget()) == (STATUSES.ERROR, "1")
    with pytest.raises(ops.JobStateError, match="its worker is requeueing it"):
        ops.requeue(job)
    assert ops.cancel(job) == "canceled"
    worker.go.set()
    tracker.wait_for(lambda: tracker.ends["error"] == 1)
    running.stop()
    assert (job.status.hget(), job.queued.hget()) == (STATUSES.CANCELED, None)  # the retry was refused
    assert Queue.count_waiting_jobs("q") + Queue.count_delayed_jobs("q") == 0
    assert connection.zcard(KEYS.running(worker=worker.id)) == 0
    assert_nothing_stuck(connection)


# --- requeue


def test_requeue_failed_resets_tries_so_the_retries_apply_again(make_worker):
    attempts: Counter[str] = Counter()
    fails_until: dict[str, int] = {}

    def callback(job, queue):
        identifier = job.identifier.hget()
        attempts[identifier] += 1
        if attempts[identifier] <= fails_until[identifier]:
            raise ValueError(f"attempt {attempts[identifier]}")

    jobs = [Job.add_job(identifier=f"job:{i}", queue_name="q") for i in range(3)]
    fails_until.update({"job:0": 99, "job:1": 3, "job:2": 3})
    burst(make_worker, callback, requeue_times=1, requeue_delay_delta=0)
    assert [job.status.hget() for job in jobs] == [STATUSES.ERROR] * 3
    assert [job.tries.hget() for job in jobs] == ["2"] * 3  # a try and its one retry
    assert ops.counts("q").error == 6 and len(ops.failures("q")) == 3

    jobs[2].requeue(queue_name="q")  # by hand: tries stay at 2, so no retry is left
    assert ops.requeue_failed("q") == 2  # job:0 and job:1; job:2 is WAITING already
    assert [job.tries.hget() for job in jobs[:2]] == ["0", "0"]
    last = jobs[0].events()[-1]
    assert (last["event"], last["by"], last["tries"], last["queue"]) == ("requeued", "operator", 0, "q")
    assert ops.failures("q") == []
    burst(make_worker, callback, requeue_times=1, requeue_delay_delta=0)
    # job:1 fails its 3rd attempt, is retried (its tries were reset) and succeeds; job:2 is not retried
    assert [job.status.hget() for job in jobs] == [STATUSES.ERROR, STATUSES.SUCCESS, STATUSES.ERROR]
    assert attempts == {"job:0": 4, "job:1": 4, "job:2": 3}
    assert ops.requeue_failed("q") == 2 and ops.requeue_failed("q") == 0  # a retry writes nothing more
    with pytest.raises(ops.UnknownQueue):
        ops.requeue_failed("nope")


def test_requeue_one_failed_job_at_the_front_or_the_back(make_worker):
    failed = Job.add_job(identifier="failed", queue_name="q", priority=2)
    make_worker(callback=lambda job, queue: 1 / 0, burst=True).run()
    first = Job.add_job(identifier="first", queue_name="q", priority=2)
    assert ops.requeue(failed.ident, prepend=True) == "q"
    assert (failed.status.hget(), failed.tries.hget(), failed.queued.hget(), failed.end.hget()) == (
        STATUSES.WAITING, "0", "1", None)
    assert Queue.get_queue("q", 2).waiting.lmembers() == [failed.ident, first.ident]
    with pytest.raises(ops.JobStateError, match="is WAITING: only a failed job"):
        ops.requeue(failed)
    with pytest.raises(ops.UnknownJob):
        ops.requeue(f"{Job.get_model_repr()}:999")


def test_requeue_failed_puts_jobs_back_in_the_queue_they_failed_in_in_order(make_worker):
    jobs = [Job.add_job(identifier=f"f:{i}", queue_name="q", priority=i % 2) for i in range(4)]
    make_worker(callback=lambda job, queue: 1 / 0, burst=True).run()
    waiting = Job.add_job(identifier="w", queue_name="q", priority=1)
    assert ops.requeue_failed("q", prepend=True) == 4
    assert Queue.get_queue("q", 1).waiting.lmembers() == [jobs[1].ident, jobs[3].ident, waiting.ident]
    assert Queue.get_queue("q", 0).waiting.lmembers() == [jobs[0].ident, jobs[2].ident]


# --- empty


def test_empty_cancels_every_waiting_and_delayed_job_and_add_job_works_after(connection):
    jobs = [Job.add_job(identifier=f"j:{i}", queue_name="q", priority=i % 3 - 1) for i in range(6)]
    delayed = Job.add_job(identifier="later", queue_name="q", delayed_for=600)
    other = Job.add_job(identifier="other", queue_name="r")
    legacy = Job.add_job(identifier="legacy", queue_name="q")
    legacy.status.hset(STATUSES.CANCELED)  # canceled by hand, as redis-limpyd-jobs did: still listed
    unknown = "unknown_module.Job:1"  # a model nobody registered: its ident is kept for workers
    Queue.get_queue("q").waiting.rpush(unknown)
    listed = {info.ident: info.status for info in ops.jobs("q", "waiting", limit=50)}
    assert len(listed) == 8 and listed[unknown] == "UNKNOWN"  # what the lists hold, as it is
    assert ops.empty("q") == 7
    assert jobs[0].events()[-1] | {"at": None} == {"event": "canceled", "at": None, "by": "empty",
                                                   "status": STATUSES.WAITING}
    for job in [*jobs, delayed, legacy]:
        assert (job.status.hget(), job.queued.hget()) == (STATUSES.CANCELED, None)
    assert Queue.get_queue("q").waiting.lmembers() == [unknown]
    assert sum(queue.waiting.llen() + queue.delayed.zcard() for queue in Queue.get_all("q")) == 1
    assert other.status.hget() == STATUSES.WAITING
    assert ops.empty("q") == 0  # nothing more to cancel: a retry writes nothing
    again = Job.add_job(identifier="j:0", queue_name="q")
    assert again.pk.get() != jobs[0].pk.get() and again.status.hget() == STATUSES.WAITING
    assert_nothing_stuck(connection)
    with pytest.raises(ops.UnknownQueue):
        ops.empty("nope")


# --- pause, resume


def test_pause_and_resume_write_the_paused_set_and_wake_up_the_workers_of_the_name(connection, clock):
    for worker, queues in (("w1", "q,r"), ("w2", "other")):
        beat.call(Job.database, worker=worker, now_score=clock.time(), fields={"queues": queues})
    Job.add_job(identifier="a", queue_name="q")
    connection.delete(KEYS.wakeup(model=Queue._name, name="q"))
    assert ops.pause("q") is True and ops.pause("q") is False
    assert ops.paused() == {"q"} and ops.counts("q").paused
    assert ops.resume("q") is True
    assert ops.paused() == set()
    assert connection.lrange(KEYS.worker_wakeup(worker="w1"), 0, -1) == ["1"]
    assert connection.llen(KEYS.worker_wakeup(worker="w2")) == 0
    assert connection.llen(KEYS.wakeup(model=Queue._name, name="q")) == 1
    assert ops.resume("q") is False  # a retry: no more tokens
    assert connection.llen(KEYS.worker_wakeup(worker="w1")) == 1
    assert connection.llen(KEYS.wakeup(model=Queue._name, name="q")) == 1
    assert ops.pause("not-yet-a-queue") is True  # a name may be paused before its first job
    with pytest.raises(ValueError):
        ops.pause("a,b")


def test_a_worker_takes_no_job_from_a_paused_queue_until_it_is_resumed(running):
    tracker = Tracker()
    ops.pause("q")
    paused_job = Job.add_job(identifier="paused", queue_name="q")
    other = Job.add_job(identifier="other", queue_name="r")
    worker = tracked_worker(tracker, lambda job, queue: tracker.note(tracker.runs, job.identifier.hget()),
                            queues="q,r", timeout=30)
    running.start(worker)
    tracker.wait_for(lambda: tracker.ends["success"] == 1)
    # q comes before r (same priority, by name): its job was skipped, not run
    assert other.status.hget() == STATUSES.SUCCESS and tracker.runs == {"other": 1}
    assert paused_job.status.hget() == STATUSES.WAITING
    assert ops.resume("q")
    tracker.wait_for(lambda: tracker.ends["success"] == 2)  # at once: its wait is 30 s
    assert paused_job.status.hget() == STATUSES.SUCCESS


# --- workers, stop, health


def test_workers_lists_the_registry_with_running_jobs_and_liveness(clock, running):
    tracker, go = Tracker(), threading.Event()
    job = Job.add_job(identifier="long", queue_name="q")
    worker = tracked_worker(tracker, lambda job, queue: tracker.gate(go))
    running.start(worker)
    tracker.wait_for(lambda: tracker.blocked == 1)
    (state,) = ops.workers()
    assert (state.id, state.queues, state.mode, state.alive, state.stopping) == (
        worker.id, ["q"], "inprocess", True, False)
    assert state.pid and state.host and state.started == clock.now()
    assert state.last_beat == clock.now()
    assert [(entry.ident, entry.since) for entry in state.running] == [(job.ident, clock.now())]
    (info,) = ops.jobs("q", "running")
    assert (info.ident, info.worker, info.since) == (job.ident, worker.id, clock.now())
    assert ops.counts("q").running == 1
    assert ops.find_job("q/long").worker == worker.id
    assert ops.health(queues="q", worker=worker.id).ok
    clock.advance(31)
    assert not ops.workers()[0].alive and ops.workers(heartbeat_timeout=60)[0].alive
    health = ops.health(queues=["q"], worker=worker.id)
    assert (health.ok, health.redis) == (False, True)
    assert "has not beaten for 30s" in health.message and "no worker beating for queue(s) q" in health.message
    go.set()
    tracker.wait_for(lambda: tracker.ends["success"] == 1)
    running.stop()
    assert ops.workers() == []


def test_control_halts_every_worker_at_once_and_clear_lifts_it(connection, clock):
    from limpyd_jobs import recurring

    assert recurring.control is ops.control  # the recurring package's users see the same
    for worker_id in ("w1", "w2"):
        beat.call(Job.database, worker=worker_id, now_score=clock.time(), fields={"queues": "q"})
    assert ops.control("halt") == ops.HALT == "HALT"
    assert ops.control("HALT") == "HALT"  # sent again: the same key, one token each (not two)
    assert connection.get(KEYS.control()) == "HALT"
    assert [connection.lrange(KEYS.worker_wakeup(worker=w), 0, -1) for w in ("w1", "w2")] == [["1"], ["1"]]
    assert ops.control("CLEAR") is None and ops.control("CLEAR") is None
    assert connection.get(KEYS.control()) is None and ops.control() is None
    with pytest.raises(ValueError, match="use HALT or CLEAR"):
        ops.control("PAUSE")
    assert connection.get(KEYS.control()) is None


def test_stop_workers_writes_a_request_each_worker_reads_at_once(connection, clock, running):
    beat.call(Job.database, worker="w1", now_score=clock.time(), fields={"queues": "q"})
    with pytest.raises(ops.UnknownWorker, match="no registered worker nope"):
        ops.stop_workers(["w1", "nope"])
    assert connection.get(KEYS.worker_control(worker="w1")) is None  # nothing was asked
    assert ops.stop_workers(["w1"]) == ["w1"]
    assert connection.get(KEYS.worker_control(worker="w1")) == "STOP"
    assert 0 < connection.pttl(KEYS.worker_control(worker="w1")) <= ops.STOP_REQUEST_TTL * 1000
    assert connection.lrange(KEYS.worker_wakeup(worker="w1"), 0, -1) == ["1"]
    assert ops.workers()[0].stopping

    tracker = Tracker()
    worker = tracked_worker(tracker, lambda job, queue: None, timeout=30)
    Queue.get_queue("q")
    running.start(worker)
    tracker.wait_for(lambda: tracker.statuses["waiting"] >= 1)  # registered, idle
    assert sorted(ops.stop_workers()) == sorted(["w1", worker.id])
    running.threads.join(timeout=10)  # an idle worker (its wait is 30 s) stopped at once: woken up to read it
    assert worker.status == "terminated" and worker.num_loops == 0


@pytest.mark.slow
def test_health_says_whether_redis_answers_and_the_workers_beat(clock, database):
    assert ops.health().ok
    beat.call(Job.database, worker="w1", now_score=clock.time(), fields={"queues": "q,r"})
    assert ops.health(queues="q,r", worker="w1").ok
    missing = ops.health(queues="q, s", worker="w2")
    assert not missing.ok and missing.alive_workers == 1
    assert missing.message == "worker w2 is not registered; no worker beating for queue(s) s"
    database.reset(host="127.0.0.1", port=free_port(), db=0)  # nothing listens there
    down = ops.health(queues="q")
    assert (down.ok, down.redis) == (False, False) and down.message.startswith("Redis does not answer")


# --- while workers run


def _gated_run(tracker: Tracker, go: threading.Event, gate_from: int) -> Callable[[Job, Queue], None]:
    def callback(job, queue):
        identifier = job.identifier.hget()
        tracker.note(tracker.runs, identifier)
        if int(identifier.split(":")[1]) >= gate_from:
            tracker.gate(go)

    return callback


def test_empty_while_workers_run_cancels_what_waits_and_lets_the_running_end(connection, running):
    tracker, go = Tracker(), threading.Event()
    jobs = Job.add_jobs([f"job:{i}" for i in range(300)], queue_name="q")
    delayed = [Job.add_job(identifier=f"later:{i}", queue_name="q", delayed_for=600) for i in range(5)]
    workers = [tracked_worker(tracker, _gated_run(tracker, go, gate_from=50)) for _ in range(2)]
    running.start(*workers)
    tracker.wait_for(lambda: tracker.blocked == 2)  # each worker holds a job, RUNNING
    assert ops.empty("q") == 300 - 52 + 5
    go.set()
    tracker.wait_for(lambda: tracker.ends["success"] == 52)
    running.stop()
    found = statuses([job.ident for job in jobs + delayed])
    success = [job.identifier.hget() for job in jobs if found[job.ident] == STATUSES.SUCCESS]
    assert sorted(success) == sorted(tracker.runs) and len(success) == 52
    assert set(tracker.runs.values()) == {1}  # none ran twice
    assert Counter(found.values()) == {STATUSES.SUCCESS: 52, STATUSES.CANCELED: 253}
    assert connection.scard(KEYS.index(model=Job._name, field="queued", value="1")) == 0
    assert_nothing_stuck(connection)
    assert Job.add_job(identifier="job:299", queue_name="q").status.hget() == STATUSES.WAITING


def test_empty_at_any_moment_of_free_running_workers_loses_no_job(connection, running):
    tracker = Tracker()
    jobs = Job.add_jobs([f"job:{i}" for i in range(400)], queue_name="q")

    def callback(job, queue):
        tracker.note(tracker.runs, job.identifier.hget())

    workers = [tracked_worker(tracker, callback) for _ in range(3)]
    running.start(*workers)
    tracker.wait_for(lambda: len(tracker.runs) >= 40)
    canceled = ops.empty("q")
    tracker.wait_for(lambda: tracker.ends["success"] == 400 - canceled)
    running.stop()
    found = statuses([job.ident for job in jobs])
    assert Counter(found.values()) == {STATUSES.SUCCESS: 400 - canceled, STATUSES.CANCELED: canceled}
    succeeded = {job.identifier.hget() for job in jobs if found[job.ident] == STATUSES.SUCCESS}
    assert succeeded == set(tracker.runs)
    assert set(tracker.runs.values()) == {1}
    assert_nothing_stuck(connection)


def test_cancel_while_workers_run_each_job_ends_once(connection, running):
    tracker = Tracker()
    jobs = Job.add_jobs([f"job:{i}" for i in range(300)], queue_name="q")

    def callback(job, queue):
        tracker.note(tracker.runs, job.identifier.hget())

    workers = [tracked_worker(tracker, callback) for _ in range(2)]
    running.start(*workers)
    outcomes: dict[str, str] = {}
    for job in jobs[::3]:
        try:
            outcomes[job.ident] = ops.cancel(job)
        except ops.JobStateError:
            outcomes[job.ident] = "finished"
    ends = lambda: sum(tracker.ends.values())  # noqa: E731
    tracker.wait_for(lambda: ends() == 300 - Counter(outcomes.values())["canceled"])
    running.stop()
    found = statuses([job.ident for job in jobs])
    for job in jobs:
        identifier, outcome = job.identifier.hget(), outcomes.get(job.ident)
        if outcome == "canceled":  # canceled before a worker took it: never ran
            assert found[job.ident] == STATUSES.CANCELED and identifier not in tracker.runs
        elif outcome == "marked":  # canceled while it ran: it ran once, and ended canceled
            assert found[job.ident] == STATUSES.CANCELED and tracker.runs[identifier] == 1
        else:
            assert found[job.ident] == STATUSES.SUCCESS and tracker.runs[identifier] == 1
    assert "canceled" in outcomes.values()
    assert set(tracker.runs.values()) == {1}
    assert_nothing_stuck(connection)


def test_requeue_failed_while_a_worker_runs_runs_each_job_once_more(connection, running):
    tracker, failing = Tracker(), threading.Event()
    failing.set()

    def callback(job, queue):
        identifier = job.identifier.hget()
        tracker.note(tracker.runs, identifier)
        if identifier.startswith("fail") and failing.is_set():
            raise ValueError("not now")

    failed = Job.add_jobs([f"fail:{i}" for i in range(100)], queue_name="q")
    worker = tracked_worker(tracker, callback)
    running.start(worker)
    tracker.wait_for(lambda: tracker.ends["error"] == 100)
    failing.clear()
    fine = Job.add_jobs([f"fine:{i}" for i in range(200)], queue_name="q")  # the worker is busy meanwhile
    tracker.wait_for(lambda: tracker.ends["success"] >= 10)
    assert ops.requeue_failed("q") == 100
    tracker.wait_for(lambda: tracker.ends["success"] == 300)
    running.stop()
    assert set(statuses([job.ident for job in failed + fine]).values()) == {STATUSES.SUCCESS}
    assert all(tracker.runs[job.identifier.hget()] == 2 for job in failed)
    assert all(tracker.runs[job.identifier.hget()] == 1 for job in fine)
    assert ops.failures("q", limit=200) == [] and ops.counts("q").success == 300
    assert_nothing_stuck(connection)


def test_a_job_canceled_while_its_worker_holds_it_is_not_put_back_by_a_stop_now(make_worker, connection):
    job = Job.add_job(identifier="held", queue_name="q")
    worker = make_worker("q")
    worker.update_keys()
    queue, held = worker.wait_for_job()
    ops.cancel(held.ident)  # an operator cancels it while the worker holds it
    worker.give_back(held, queue)  # as a stop-now signal would
    assert job.status.hget() == STATUSES.CANCELED and job.queued.hget() is None
    assert Queue.get_queue("q").waiting.lmembers() == []
    assert connection.zcard(worker.running_key) == 0
