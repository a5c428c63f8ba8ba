"""Redis behind sentinels: ``redis+sentinel://`` URLs, clients that find the master again after a
failover, and ``?replicas=N`` (acknowledged writes wait for replicas). The failover test runs real
processes: a master, a replica, three sentinels, two workers and a producer; the master is
killed -9 while they work."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
from chaos import QUEUE, WORKER_OPTIONS, _command, stop
from helpers import ROOT, TESTS_DIR, eventually

from limpyd_jobs import ConfigurationException, Job
from limpyd_jobs.connection import describe, masked, settings_from_string, settings_from_url
from limpyd_jobs.outages import NotReplicated, is_outage
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.protocol.loader import ACKNOWLEDGING
from limpyd_jobs.testing.server import RedisServer, find_redis_server, free_port

SERVICE = "jobs-primary"


@pytest.mark.parametrize(("url", "expected"), [
    ("redis+sentinel://h1:26380,h2:26381/mymaster/3",
     {"sentinels": (("h1", 26380), ("h2", 26381)), "service_name": "mymaster", "db": 3}),
    ("redis+sentinel://:secret@h1/mymaster?sentinel_password=other&replicas=1",
     {"sentinels": (("h1", 26379),), "service_name": "mymaster", "db": 0, "password": "secret",
      "sentinel_password": "other", "replicas": 1, "replicas_timeout": 2000}),
    ("rediss+sentinel://h1:1/s?password=p&ssl_cert_reqs=none",
     {"sentinels": (("h1", 1),), "service_name": "s", "db": 0, "password": "p", "ssl": True,
      "ssl_cert_reqs": "none"}),
    ("redis://h:1/2?replicas=2&replicas_timeout=500",
     {"host": "h", "port": 1, "db": 2, "replicas": 2, "replicas_timeout": 500}),
])
def test_sentinel_and_replicas_urls(url, expected):
    assert settings_from_url(url) == expected
    assert settings_from_string(url) == expected


@pytest.mark.parametrize(("url", "says"), [
    ("redis+sentinel://h1:x/s", "not host:port"),
    ("redis+sentinel://h1:1/", "service_name"),
    ("redis+sentinel://h1:1/s/db", "not an integer"),
    ("redis+sentinel://h1:1/s/0/more", "service_name"),
    ("redis://h/0?replicas=one", "whole number"),
    ("redis://h/0?replicas_timeout=5", "without replicas"),
])
def test_bad_sentinel_urls_say_what_is_wrong(url, says):
    with pytest.raises(ConfigurationException, match=says):
        settings_from_url(url)


def test_passwords_are_never_shown():
    url = "redis+sentinel://:secret@h1:1,h2:2/s/1?sentinel_password=hidden"
    assert "secret" not in masked(url) and "hidden" not in masked(url)
    shown = describe(settings_from_url(url))
    assert shown == "the master of 's' (sentinels h1:1,h2:2) db 1"


def test_acknowledging_scripts_exist_and_exclude_the_hot_takes():
    folder = ROOT / "limpyd_jobs" / "protocol" / "scripts"
    scripts = {path.stem for path in folder.glob("*.lua")}
    assert ACKNOWLEDGING <= scripts
    assert {"add_job", "finish_and_take", "cancel_job"} <= ACKNOWLEDGING
    assert not {"take", "take_many", "beat", "recover"} & ACKNOWLEDGING


def test_replicas_make_acknowledged_writes_wait_in_the_same_round_trip(redis_server, database):
    """With ?replicas=1 and a replica: an add is acknowledged once the replica has it, and the WAIT
    travels with the script (MONITOR sees them back to back); without a replica, NotReplicated."""
    redis_server.client().config_set("repl-diskless-sync-delay", 0)
    with RedisServer(arguments=["--replicaof", "127.0.0.1", str(redis_server.port)]) as replica:
        assert eventually(lambda: _replicas_online(redis_server.client(decode_responses=True)) == 1, 10)
        database.reset(host="127.0.0.1", port=redis_server.port, db=0, replicas=1, replicas_timeout=1000)
        job = Job.add_job(identifier="acknowledged", queue_name="q")
        assert replica.client(decode_responses=True).hget(f"jobs:job:{job.pk.get()}:hash", "identifier") \
            == "acknowledged"
        with redis_server.client(decode_responses=True).monitor() as monitor:
            Job.add_job(identifier="second", queue_name="q")
            commands = []
            for command in monitor.listen():
                if command.get("client_type") != "lua":  # not the commands the script runs
                    commands.append(command["command"].split()[0].upper())
                if commands and commands[-1] == "WAIT":
                    break
        assert commands == ["EVALSHA", "WAIT"]
    database.reset(host="127.0.0.1", port=redis_server.port, db=0, replicas=1, replicas_timeout=100)
    with pytest.raises(NotReplicated) as raised:
        Job.add_job(identifier="unreplicated", queue_name="q")
    assert is_outage(raised.value)
    database.reset(host="127.0.0.1", port=redis_server.port, db=0)
    # it ran: sent again (as a worker or a producer does after an outage), it is the same job
    assert Job.add_job(identifier="unreplicated", queue_name="q").ident == \
        Job.collection(identifier="unreplicated").instances()[0].ident


def _replicas_online(client: redis.Redis) -> int:
    info = client.info("replication")
    return sum(1 for index in range(info["connected_slaves"]) if info[f"slave{index}"]["state"] == "online")


#: Replication starts at once (not after the 5 s a diskless sync waits for more replicas).
FAST_SYNC = ["--repl-diskless-sync-delay", "0"]


class Sentinels:
    """A master, a replica and three sentinels on free loopback ports, in one temp directory."""

    def __init__(self) -> None:
        self.master = RedisServer(arguments=FAST_SYNC).start()
        replica_of = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.replica = RedisServer(arguments=[*FAST_SYNC, *replica_of]).start()
        self.directory = Path(self.master.directory)
        self.sentinels: list[subprocess.Popen] = []
        self.ports = []
        for index in range(3):
            port = free_port()
            config = self.directory / f"sentinel-{index}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.directory}\nlogfile sentinel-{index}.log\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n")
            self.sentinels.append(subprocess.Popen([find_redis_server(), str(config), "--sentinel"],
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.ports.append(port)

    def url(self, query: str = "") -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0" + (f"?{query}" if query else "")

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(port=self.ports[index], decode_responses=True, socket_timeout=2)

    def ready(self) -> bool:
        """Every sentinel knows the replica and the two other sentinels (a failover needs them)."""
        try:
            return all(len(self.sentinel(i).sentinel_slaves(SERVICE)) == 1
                       and len(self.sentinel(i).sentinel_sentinels(SERVICE)) == 2 for i in range(3))
        except redis.RedisError:
            return False

    def master_port(self) -> int:
        return int(self.sentinel().sentinel_get_master_addr_by_name(SERVICE)[1])

    def stop(self) -> None:
        for process in self.sentinels:
            if process.poll() is None:
                process.kill()
                process.wait(5)
        self.replica.stop()
        self.master.stop()


def test_a_sentinel_url_reaches_the_master(redis_server, database):
    setup = Sentinels()
    try:
        assert eventually(setup.ready, 30), "the sentinels did not find each other"
        database.reset(**settings_from_url(setup.url()))
        job = Job.add_job(identifier="through-sentinels", queue_name="q")
        master = setup.master.client(decode_responses=True)
        stored = master.hget(f"jobs:job:{job.pk.get()}:hash", "identifier")
        assert stored == "through-sentinels" and redis_server.client().dbsize() == 0
        # a command, and the dashboard, given the URL
        shown = subprocess.run([*_command("limpyd-jobs"), "queues", f"--database={setup.url()}", "--json"],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and '"q"' in shown.stdout, shown.stderr
        database.reset(host="127.0.0.1", port=redis_server.port, db=0)
        from limpyd_jobs.dashboard import create_app

        page = create_app(setup.url(), secret_key="tests").test_client().get("/api/counts")
        assert page.status_code == 200 and [queue["name"] for queue in page.get_json()["queues"]] == ["q"]
    finally:
        database.reset(host="127.0.0.1", port=redis_server.port, db=0)
        setup.stop()


def _start_worker(url: str, notes_port: int, log: Path) -> subprocess.Popen:
    options = [option for option in WORKER_OPTIONS if not option.startswith(("--heartbeat-t", "--logger"))]
    with log.open("a") as output:
        return subprocess.Popen(
            [*_command("limpyd-jobs-worker"), f"--queues={QUEUE}", "--callback=sample_jobs.chaos_work",
             f"--pythonpath={TESTS_DIR}", f"--database={url}", *options, "--heartbeat-timeout=10",
             "--logger-level=WARNING"],
            stdout=subprocess.DEVNULL, stderr=output,
            env={**os.environ, "CHAOS_DIRECT_PORT": str(notes_port)})


class Producer(threading.Thread):
    """Adds jobs one after the other, each until acknowledged (an add that raised is sent again,
    as a producer does); notes when each was acknowledged."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.acknowledged: list[str] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.stopping.is_set():
            identifier = f"job:{number}"
            try:
                Job.add_job(identifier=identifier, queue_name=QUEUE)
            except redis.RedisError:
                self.failures += 1
                time.sleep(0.05)
                continue
            self.acknowledged.append(identifier)
            number += 1
            time.sleep(0.005)


@pytest.mark.slow
@pytest.mark.parametrize("replicas", [1, 0])
def test_a_failover_loses_no_acknowledged_job(redis_server, database, replicas):
    """The master killed -9 while a producer adds and two workers run: with replicas=1 every job
    acknowledged to the producer runs, nothing exits, and work resumes within 10 s of the
    promotion. Without replicas, what the promoted replica lacked is reported."""
    notes = redis_server.client(decode_responses=True)
    setup = Sentinels()
    workers: list[subprocess.Popen] = []
    producer = Producer()
    logs = [setup.directory / f"worker-{number}.log" for number in range(2)]
    try:
        assert eventually(setup.ready, 30), "the sentinels did not find each other"
        url = setup.url(f"replicas={replicas}&replicas_timeout=500" if replicas else "")
        workers = [_start_worker(url, redis_server.port, log) for log in logs]
        database.reset(**settings_from_url(url))
        producer.start()
        assert eventually(lambda: notes.llen("executions") >= 300, 60), "the workers did not start working"
        # both registered before the kill: a worker still starting would meet no master and exit
        assert eventually(lambda: Job.database.connection.zcard(KEYS.workers()) == 2, 60), "not both up"
        old_port = setup.master.port
        setup.master.process.send_signal(signal.SIGKILL)
        setup.master.process.wait(5)
        killed_at = time.monotonic()
        assert eventually(lambda: setup.master_port() != old_port, 30), "no replica was promoted"
        promoted_at, done_before = time.monotonic(), notes.llen("executions")
        # the killed server comes back (as a supervisor restarts it) as a replica of the new master
        setup.master.arguments = [*FAST_SYNC, "--replicaof", "127.0.0.1", str(setup.master_port())]
        setup.master.start_again()
        assert eventually(lambda: notes.llen("executions") > done_before, 30), "work did not resume"
        resumed = time.monotonic() - promoted_at
        time.sleep(1)  # the producer adds on the new master a little longer
        producer.stopping.set()
        producer.join(10)
        acknowledged = set(producer.acknowledged)
        eventually(lambda: acknowledged <= set(notes.lrange("executions", 0, -1)), 60)
        ran = notes.lrange("executions", 0, -1)
        lost = sorted(acknowledged - set(ran))
        exited = [worker.args[-1] for worker in workers if worker.poll() is not None]
        print(f"\nreplicas={replicas}: {len(acknowledged)} jobs acknowledged, {len(lost)} lost, "
              f"{len(ran) - len(set(ran))} runs twice, promotion {promoted_at - killed_at:.1f}s after "
              f"the kill, work resumed {resumed:.1f}s after it, {producer.failures} adds sent again")
        assert exited == []
        assert resumed < 10
        if replicas:
            assert lost == []
    finally:
        producer.stopping.set()
        stop(workers)
        for log in logs:  # shown when the test fails
            print(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:]))
        database.reset(host="127.0.0.1", port=redis_server.port, db=0)
        setup.stop()
