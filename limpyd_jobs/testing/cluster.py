"""A private Redis Cluster: masters (each with replicas) on free loopback ports, never 6379.

Each node is a ``RedisServer`` started with ``--cluster-enabled yes``; ``redis-cli --cluster
create`` joins them. ``url`` is the ``redis+cluster://`` URL of its masters.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import redis

from .server import RedisServer, RedisServerError


class RedisClusterServers:
    """``masters`` masters with ``replicas`` replicas each; a context manager, or start()/stop()."""

    def __init__(self, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 2000) -> None:
        self.masters, self.replicas, self.node_timeout_ms = masters, replicas, node_timeout_ms
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes) + "/0"

    def start(self) -> RedisClusterServers:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RedisServerError("redis-cli is needed to create a cluster")
        arguments = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", str(self.node_timeout_ms), "--repl-diskless-sync-delay", "0"]
        try:
            for _ in range(self.masters * (1 + self.replicas)):
                self.nodes.append(RedisServer(arguments=arguments).start())
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            created = subprocess.run([cli, "--cluster", "create", *addresses, "--cluster-replicas",
                                      str(self.replicas), "--cluster-yes"], capture_output=True, text=True)
            if created.returncode:
                raise RedisServerError(f"redis-cli --cluster create: {created.stdout[-500:]}{created.stderr}")
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ok(self, timeout: float = 60.0) -> None:
        """Wait until every live node says the cluster is ok, and every master has its replicas."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = []
            for node in self.live_nodes():
                try:
                    info = node.client(socket_timeout=1).execute_command("CLUSTER", "INFO")
                except redis.RedisError:
                    states.append(False)
                    continue
                text = info.decode() if isinstance(info, bytes) else str(info)
                states.append("cluster_state:ok" in text)
            if states and all(states) and self._replicas_online():
                return
            time.sleep(0.1)
        raise RedisServerError("the cluster did not become ok")

    def _replicas_online(self) -> bool:
        """Every live master has its replicas, synced (a failover needs one)."""
        for node in self.live_nodes():
            try:
                info = node.client(socket_timeout=1, decode_responses=True).info("replication")
            except redis.RedisError:
                return False
            if info["role"] == "master":
                online = [index for index in range(info["connected_slaves"])
                          if info[f"slave{index}"]["state"] == "online"]
                if len(online) < self.replicas:
                    return False
        return True

    def live_nodes(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process is not None and node.process.poll() is None]

    def master_of(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now (as the first live node answering sees it)."""
        for node in self.live_nodes():
            client = node.client(socket_timeout=1)
            try:
                slot = client.execute_command("CLUSTER", "KEYSLOT", key)
                owners = client.execute_command("CLUSTER", "SLOTS")
            except redis.RedisError:
                continue
            for start, end, master, *_ in owners:
                if start <= slot <= end:
                    return next(one for one in self.nodes if one.port == int(master[1]))
        raise RedisServerError(f"no live node knows the master of {key!r}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []

    def __enter__(self) -> RedisClusterServers:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
