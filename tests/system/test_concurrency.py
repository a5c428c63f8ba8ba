"""Several processes hitting the same jobs at the same moment."""

from __future__ import annotations

import multiprocessing
import random

from limpyd_jobs import STATUSES, Job, Queue
from limpyd_jobs.models import BaseJobsModel

PROCESSES = 6
ROUNDS = 25


def _add_same_identifiers(port, barrier, seed, results):
    BaseJobsModel.database.reset(host="127.0.0.1", port=port, db=0)
    rng = random.Random(seed)
    asked = []
    for round_number in range(ROUNDS):
        priority = rng.randint(0, 5)
        barrier.wait(timeout=20)
        Job.add_job(identifier=f"job:{round_number}", queue_name="q", priority=priority)
        asked.append(priority)
    results.put(asked)


def test_concurrent_add_job_leaves_one_job_at_the_highest_priority(redis_server):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=_add_same_identifiers, args=(redis_server.port, barrier, seed, results))
        for seed in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    asked = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    all_waiting = [ident for queue in Queue.get_all("q") for ident in queue.waiting.lmembers()]
    assert len(all_waiting) == ROUNDS == len(set(all_waiting))
    for round_number in range(ROUNDS):
        jobs = Job.collection(identifier=f"job:{round_number}").instances()
        assert len(jobs) == 1, f"round {round_number}: {len(jobs)} jobs"
        job = jobs[0]
        highest = max(priorities[round_number] for priorities in asked)
        assert job.priority.hget() == str(highest)
        assert job.status.hget() == STATUSES.WAITING
        assert Queue.get_queue("q", highest).waiting.lrem(0, job.ident) == 1
