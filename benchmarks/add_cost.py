"""What one add costs: Redis CPU (``usec_per_call`` of EVALSHA) and client CPU per ``Job.add_job``.

    .venv/bin/python benchmarks/add_cost.py --jobs 3000 --trials 5 --baseline main

One private Redis; each trial empties it, adds one job (the queue exists), resets the command
stats, then adds ``--jobs`` jobs one by one in a fresh process of the tree measured. The trees
(this one, ``--baseline`` from git, and a bare script running the same 9 commands with no Lua
around them) alternate within each trial; medians are printed, with the load average.
``--in-lua`` (each script's body run --jobs times in one EVAL) and ``--scripts-only`` (calls
timed by SLOWLOG) measure the scripts alone, with less of this shared host's noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# the 9 commands of a new job's add, keys made by the client: the floor of any add script
BARE = """
local m, q, ident = ARGV[1], ARGV[2], ARGV[3]
redis.call('SINTER', m .. ':identifier:' .. ARGV[4], m .. ':queued:1')
local pk = redis.call('INCR', m .. ':max_pk')
redis.call('SADD', m .. ':collection', pk)
redis.call('SADD', m .. ':identifier:' .. ARGV[4], pk)
local queue_pk = redis.call('SINTER', q .. ':name:' .. ARGV[5], q .. ':priority:0')[1]
redis.call('RPUSH', q .. ':' .. queue_pk .. ':waiting', ident .. pk)
redis.call('HSET', m .. ':' .. pk .. ':hash', 'identifier', ARGV[4], 'priority', '0', 'added', ARGV[6],
           'queued', '1', 'queue_key', q .. ':' .. queue_pk, 'status', 'w')
redis.call('SADD', m .. ':status:w', pk)
redis.call('SADD', m .. ':queued:1', pk)
return {pk, 1, queue_pk, 0}
"""


TASK_MODULE = """from limpyd_jobs.tasks import task


@task(queue_name="cost")
def costed(number):
    return number
"""


def child(url: str, jobs: int, bare: bool, task: bool) -> None:
    """Add ``jobs`` jobs through this tree (or the bare script, or a task's enqueue); print the
    costs as JSON."""
    from limpyd_jobs import Job
    from limpyd_jobs.connection import settings_from_url
    from limpyd_jobs.models import BaseJobsModel
    from limpyd_jobs.protocol import KEYS

    BaseJobsModel.database.reset(**settings_from_url(url))
    client = BaseJobsModel.database.connection
    Job.add_job(identifier="warm-up", queue_name="cost")
    if task:
        from add_cost_task import costed
        costed.enqueue(-1)
    if bare:
        sha = client.script_load(BARE)
        model, queue_model = Job._name, Job.queue_model._name
        client.evalsha(sha, 0, model, queue_model, "Job:", "warm-up", "cost", "0")
    client.config_resetstat()
    cpu = client.info("cpu")
    redis_before = cpu["used_cpu_user"] + cpu["used_cpu_sys"]
    before, started = time.process_time(), time.perf_counter()
    if bare:
        for number in range(jobs):
            client.evalsha(sha, 0, model, queue_model, "Job:", f"job:{number}", "cost", str(time.time()))
    elif task:
        for number in range(jobs):
            run = costed.enqueue(number)
    else:
        for number in range(jobs):
            Job.add_job(identifier=f"job:{number}", queue_name="cost")
    elapsed, client_cpu = time.perf_counter() - started, time.process_time() - before
    stats = client.info("commandstats")["cmdstat_evalsha"]
    cpu = client.info("cpu")
    redis_cpu = cpu["used_cpu_user"] + cpu["used_cpu_sys"] - redis_before
    if task:
        key = KEYS.hash(model=costed.get_backend().job_model._name, pk=run.id.rsplit(":", 1)[1])
    else:
        last = Job.collection(identifier=f"job:{jobs - 1}").instances()[0]
        key = KEYS.hash(model=Job._name, pk=last.pk.get())
    print(json.dumps({
        "redis_us": stats["usec_per_call"], "redis_cpu_us": redis_cpu * 1e6 / jobs, "calls": stats["calls"],
        "client_us": client_cpu * 1e6 / jobs,
        "rate": jobs / elapsed, "encoding": client.object("encoding", key),
        "hash_bytes": client.memory_usage(key), "fields": client.hlen(key),
    }))


def script_source(tree: Path) -> str:
    """add_job.lua as the loader of ``tree`` links it."""
    code = "from limpyd_jobs.protocol.loader import LuaScript; print(LuaScript('add_job').source, end='')"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, check=True, capture_output=True,
                          text=True).stdout


def scripts_only(server, sources: dict[str, str], batches: int, batch: int) -> dict[str, list[int]]:
    """The time each call of each script took in Redis (SLOWLOG, every command logged, in µs),
    pipelined in batches of ``batch`` calls alternating ``batches`` times, with the arguments
    Job.add_job sends for a new job: a median per script is robust to this host's preemptions."""
    client = server.client()
    shas = {client.script_load(source): name for name, source in sources.items()}
    shas[client.script_load(BARE)] = "bare 9 commands"
    client.hset("Queue:1:hash", mapping={"name": "cost", "priority": "0"})
    client.set("Queue:max_pk", 1)
    client.sadd("Queue:collection", 1)
    client.sadd("Queue:name:cost", 1)
    client.sadd("Queue:priority:0", 1)
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", batch * 20)  # the commands of the scripts too
    results: dict[str, list[int]] = {name: [] for name in shas.values()}
    count = 0
    for number in range(batches):
        order = list(shas)
        for sha in order[number % len(order):] + order[:number % len(order)]:
            client.slowlog_reset()
            pipe = client.pipeline(transaction=False)
            for _ in range(batch):
                count += 1
                now = time.time()
                if shas[sha] in sources:
                    pipe.evalsha(sha, 0, "Job", "Job", "0", "Queue", "cost", 0, f"job:{count}",
                                 f"{now:.6f}", now, "", "", "0", "create")
                else:
                    pipe.evalsha(sha, 0, "Job", "Queue", "Job:", f"job:{count}", "cost", f"{now:.6f}")
            pipe.execute()
            for entry in client.slowlog_get(batch * 20):
                if entry["command"].startswith(b"EVALSHA " + sha.encode()):
                    results[shas[sha]].append(entry["duration"])
    return results


def in_lua(server, sources: dict[str, str], rounds: int, calls: int) -> dict[str, list[float]]:
    """µs per add of each script's body run ``calls`` times within one EVAL (no I/O, no
    EVALSHA set-up: the script's own work, its commands and its Lua); ``rounds`` alternating."""
    client = server.client()
    results: dict[str, list[float]] = {name: [] for name in [*sources, "bare 9 commands"]}
    client.hset("Queue:1:hash", mapping={"name": "cost", "priority": "0"})
    for name in ("Queue:name:cost", "Queue:priority:0", "Queue:collection"):
        client.sadd(name, 1)
    count = 0
    for number in range(rounds):
        names = list(results)
        for name in names[number % len(names):] + names[:number % len(names)]:
            if name in sources:
                argv = (f"{{'Job', 'Job', '0', 'Queue', 'cost', '0', 'job:' .. (it + {count}), now_str, "
                        "now_str, '', '', '0', 'create'}")
                body = sources[name]
            else:
                argv = f"{{'Job', 'Queue', 'Job:', 'job:' .. (it + {count}), 'cost', now_str}}"
                body = BARE
            script = (f"local now_str = ARGV[1] local t0 = redis.call('TIME') for it = 1, {calls} do "
                      f"local ARGV = {argv} (function() {body} end)() end local t1 = redis.call('TIME') "
                      "return (t1[1] - t0[1]) * 1000000 + (t1[2] - t0[2])")
            results[name].append(client.eval(script, 0, f"{time.time():.6f}") / calls)
            count += calls
    return results


def tree_of(revision: str, into: Path) -> Path:
    """The package as it is at ``revision`` of this repository, extracted under ``into``."""
    archive = into / "tree.tar"
    subprocess.run(["git", "archive", "-o", str(archive), revision, "limpyd_jobs"], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def trial(tree: Path, url: str, jobs: int, bare: bool = False, task: Path | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{tree}:{task}" if task else str(tree)}
    arguments = [sys.executable, __file__, "--child", url, "--jobs", str(jobs)] + (["--bare"] if bare else [])
    arguments += ["--task"] if task else []
    output = subprocess.run(arguments, env=env, cwd=tree, check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--baseline", help="a git revision to measure beside this tree")
    parser.add_argument("--scripts-only", action="store_true",
                        help="the scripts alone, alternating in batches from one client (less noise)")
    parser.add_argument("--in-lua", action="store_true",
                        help="each script's body run --jobs times within one EVAL, --trials rounds")
    parser.add_argument("--task", action="store_true", help="a task's enqueue instead of add_job")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child, options.jobs, options.bare, options.task)
        return
    sys.path.insert(0, str(ROOT))
    from limpyd_jobs.testing.server import RedisServer

    with tempfile.TemporaryDirectory() as temporary, RedisServer() as server:
        trees = {"this tree": ROOT}
        if options.baseline:
            trees[options.baseline] = tree_of(options.baseline, Path(temporary))
        names = [*trees] if options.task else [*trees, "bare 9 commands"]
        task_dir = Path(temporary) / "task" if options.task else None
        if task_dir:
            task_dir.mkdir()
            (task_dir / "add_cost_task.py").write_text(TASK_MODULE)
        loads = [os.getloadavg()[0]]
        if options.scripts_only:
            sources = {name: script_source(tree) for name, tree in trees.items()}
            found = scripts_only(server, sources, options.trials, options.jobs)
            print(f"{options.trials} batches of {options.jobs} calls per script, load average "
                  f"{loads[0]:.1f} to {os.getloadavg()[0]:.1f}; time of a call in Redis (SLOWLOG, µs)")
            for name, values in found.items():
                quartiles = statistics.quantiles(values)
                print(f"{name:<16} median {statistics.median(values):5.1f}  quartiles {quartiles[0]:5.1f} "
                      f"{quartiles[2]:5.1f}  mean {statistics.fmean(values):5.1f}  ({len(values)} calls)")
            return
        if options.in_lua:
            found = in_lua(server, {name: script_source(tree) for name, tree in trees.items()},
                           options.trials, options.jobs)
            print(f"{options.trials} rounds of {options.jobs} adds in one EVAL per script, load average "
                  f"{loads[0]:.1f} to {os.getloadavg()[0]:.1f}; µs per add in Redis")
            for name, values in found.items():
                print(f"{name:<16} min {min(values):5.2f}  median {statistics.median(values):5.2f}")
            return
        results: dict[str, list[dict]] = {name: [] for name in names}
        for number in range(options.trials):
            for name in names[number % len(names):] + names[:number % len(names)]:  # each one first in turn
                server.client().flushall()
                tree = trees.get(name, ROOT)
                results[name].append(trial(tree, server.url, options.jobs, name not in trees, task_dir))
            loads.append(os.getloadavg()[0])
    print(f"{options.trials} trials of {options.jobs} adds, load average {min(loads):.1f} "
          f"to {max(loads):.1f}")
    print("per add: usec_per_call of EVALSHA, Redis process CPU (INFO cpu), client CPU; adds/s")
    print(f"{'':<16} {'EVALSHA us':>10} {'Redis CPU us':>12} {'client us':>9} {'adds/s':>7}  hash (last job)")
    for name, runs in results.items():
        fields = ("redis_us", "redis_cpu_us", "client_us", "rate")
        redis_us, redis_cpu_us, client_us, rate = (statistics.median(run[f] for run in runs) for f in fields)
        last = runs[-1]
        print(f"{name:<16} {redis_us:10.2f} {redis_cpu_us:12.1f} {client_us:9.1f} {rate:7.0f}  "
              f"{last['encoding']}, {last['fields']} fields, {last['hash_bytes']} bytes")


if __name__ == "__main__":
    main()
