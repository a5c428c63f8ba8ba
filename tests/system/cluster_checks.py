"""Run in a process whose REDIS_URL names a Redis Cluster and LIMPYD_JOBS_PREFIX a hash tag (or
whose URL says ``?shards=S``): the package's main behaviours, each printing ``ok NAME`` (or raising)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path

from limpyd_jobs import STATUSES, Job, Queue, Worker, get_result, operations, shards
from limpyd_jobs.pending import pending_jobs, schedule_job

HERE = Path(__file__).parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))
URL = os.environ.get("REDIS_URL", "")

CHECKS = []


def check(function):
    CHECKS.append(function)
    return function


def succeed(job, queue):
    return "done"


def fail(job, queue):
    raise ValueError("boom")


def worker(queues="cq", callback=succeed, **options):
    options.setdefault("timeout", 0.05)
    return Worker(queues, callback=callback, terminate_gracefuly=False, **options)


@check
def add_take_finish():
    job = Job.add_job(identifier="one", queue_name="cq")
    assert Job.add_job(identifier="one", queue_name="cq").ident == job.ident  # dedup
    worker(max_loops=1).run()
    assert job.status.hget() == STATUSES.SUCCESS


@check
def retries_and_errors():
    job = Job.add_job(identifier="failing", queue_name="cq-fail")
    worker("cq-fail", callback=fail, max_loops=1).run()
    assert job.status.hget() == STATUSES.ERROR
    assert operations.failures("cq-fail")


@check
def delays():
    job = Job.add_job(identifier="later", queue_name="cq-delay", delayed_for=timedelta(seconds=60))
    assert job.status.hget() == STATUSES.DELAYED
    assert operations.counts("cq-delay").delayed == 1


@check
def operations_reads_and_writes():
    Job.add_job(identifier="waiting-1", queue_name="cq-ops")
    Job.add_job(identifier="waiting-2", queue_name="cq-ops")
    assert "cq-ops" in operations.queue_names()
    assert [info.identifier for info in operations.jobs("cq-ops")] == ["waiting-1", "waiting-2"]
    operations.pause("cq-ops")
    assert "cq-ops" in operations.paused()
    operations.resume("cq-ops")
    assert operations.empty("cq-ops") == 2
    assert operations.find_job("cq-ops/waiting-1")
    operations.all_counts()
    operations.workers()
    operations.health()


@check
def queue_and_collections():
    queue = Queue.get_queue("cq-collect", priority=3)
    assert Queue.get_queue("cq-collect", priority=3).pk.get() == queue.pk.get()
    Job.add_job(identifier="collected", queue_name="cq-collect")
    ranked = Job.add_job(identifier="ranked", queue_name="cq-collect", priority=7)
    with shards.for_queue("cq-collect"):  # sharded, a collection is one shard's
        assert Job.collection(identifier="collected").instances()[0].identifier.hget() == "collected"
        assert Job.collection(priority=7).instances() == [ranked]  # scanned: hashes read by a pipeline


@check
def pending():
    schedule_job("pending-1", -1, color="blue")
    assert [job["id"] for job in pending_jobs()] == ["pending-1"]


@check
def tasks_in_a_worker_process():
    import task_samples as app

    results = [app.add.enqueue(1, 2), app.fails.enqueue("no")]
    process = subprocess.run(
        [sys.executable, "-m", "limpyd_jobs.cli.worker", "--queues=default", "--job-modules=task_samples",
         f"--pythonpath={TESTS}", f"--database={URL}", "--no-title", "--timeout=0.2", "--burst"],
        capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    read = [get_result(result.id) for result in results]
    assert [result.status for result in read] == ["SUCCESSFUL", "FAILED"]
    assert read[0].return_value == 3


@check
def commands_and_dashboard():
    shown = subprocess.run([sys.executable, "-m", "limpyd_jobs.cli.admin", "queues", f"--database={URL}",
                            "--json"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and '"cq"' in shown.stdout, shown.stderr
    from limpyd_jobs.dashboard import create_app

    page = create_app(URL, secret_key="tests").test_client().get("/api/counts")
    assert page.status_code == 200 and "cq" in [queue["name"] for queue in page.get_json()["queues"]]


@check
def a_pool_of_worker_processes():
    for number in range(20):
        Job.add_job(identifier=f"pooled-{number}", queue_name="cq-pool")
    pool = subprocess.run(
        [sys.executable, "-m", "limpyd_jobs.cli.worker", "--queues=cq-pool", "--callback=sample_jobs.noop",
         f"--pythonpath={TESTS}", f"--database={URL}", "--processes=2", "--burst", "--no-title",
         "--timeout=0.2"], capture_output=True, text=True, timeout=120)
    assert pool.returncode == 0, pool.stderr
    assert operations.counts("cq-pool").success == 20


@check
def sweeper_and_metrics():
    swept = subprocess.run([sys.executable, "-m", "limpyd_jobs.cli.sweeper", f"--database={URL}", "--once"],
                           capture_output=True, text=True, timeout=60)
    assert swept.returncode == 0, swept.stderr
    from limpyd_jobs.metrics import JobsCollector

    names = {sample.labels.get("queue") for family in JobsCollector().collect() for sample in family.samples}
    assert "cq" in names, names


def produce(queue, acknowledged_path, stop_path):
    """Add jobs one after the other, each until acknowledged, noting each acknowledged one."""
    number, failures = 0, 0
    with open(acknowledged_path, "a") as acknowledged:
        while not os.path.exists(stop_path):
            identifier = f"job:{number}"
            try:
                Job.add_job(identifier=identifier, queue_name=queue)
            except Exception:  # an outage: sent again, as a producer does
                failures += 1
                time.sleep(0.05)
                continue
            acknowledged.write(f"{identifier} {time.time()}\n")
            acknowledged.flush()
            number += 1
            time.sleep(0.005)
    print(json.dumps({"failures": failures}))


def main(names):
    failed = 0
    for function in CHECKS:
        if names and function.__name__ not in names:
            continue
        try:
            function()
            print("ok", function.__name__, flush=True)
        except Exception:
            failed += 1
            print("FAILED", function.__name__, flush=True)
            traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["produce"]:
        produce(*sys.argv[2:5])
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
