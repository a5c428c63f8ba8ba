"""A TCP proxy in front of a Redis server that injects network faults, for tests and chaos runs.

``FaultyProxy(port)``: ``reset`` cuts a request before Redis gets it, ``lose_reply`` lets Redis
run it and drops the reply, ``chaos`` does both at random; whole RESP2/RESP3 commands, one at a time.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .server import free_port

#: A request: its words (the command name first, upper-cased), as bytes.
Request = list[bytes]
Matcher = Callable[[Request], bool]


def command(name: str) -> Matcher:
    """Matches the requests of one Redis command (``"EVALSHA"``, ``"BLPOP"``...)."""
    wanted = name.upper().encode()
    return lambda request: request[0] == wanted


def sha(digest: str) -> Matcher:
    """Matches the EVALSHA (and EVAL) calls of the script with this SHA1."""
    wanted = digest.encode()
    return lambda request: request[0] == b"EVALSHA" and len(request) > 1 and request[1].lower() == wanted


def script(name: str) -> Matcher:
    """Matches the calls of one of limpyd-jobs' scripts, by name (``"take"``, ``"finish"``...)."""
    from ..protocol.loader import LuaScript

    return sha(LuaScript(name).sha)


def anything(request: Request) -> bool:
    return True


@dataclass
class _Fault:
    kind: str  # "reset" or "lose"
    matcher: Matcher
    times: int  # how many more requests it hits (-1: every one)


@dataclass
class Counts:
    """What the proxy did: requests forwarded, connections reset, replies lost."""

    requests: int = 0
    resets: int = 0
    lost: int = 0
    by_command: dict[str, int] = field(default_factory=dict)


class _Closed(Exception):
    """A side of a proxied connection closed (or the proxy stops)."""


class _Reader:
    """Reads whole RESP messages from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise _Closed()
        self.buffer.extend(data)

    def _line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[:end + 2]
                return line
            self._fill()

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size + 2:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size + 2]
        return data

    def message(self) -> tuple[bytes, list[bytes]]:
        """One message: its raw bytes, and (for a request) its words."""
        raw, words = bytearray(), []
        self._read(raw, words, depth=0)
        return bytes(raw), words

    def _read(self, raw: bytearray, words: list[bytes], depth: int) -> None:
        line = self._line()
        raw += line + b"\r\n"
        kind, rest = line[:1], line[1:]
        if kind in _BULK:
            size = int(rest)
            if size >= 0:
                data = self._exactly(size)
                raw += data + b"\r\n"
                if depth == 1:
                    words.append(data)
        elif kind in _AGGREGATE:
            count = max(int(rest), 0) * (2 if kind in _PAIRS else 1)
            for _ in range(count):
                self._read(raw, words, depth + 1)
            if kind == b"|":  # an attribute comes before the reply it describes
                self._read(raw, words, depth)
        elif kind not in _SIMPLE:  # an inline command (redis-cli style)
            words.extend(line.split())


# RESP2 and RESP3 types: bulk (a length, then data), aggregate (a count of elements; maps and
# attributes count pairs), simple (the line is all)
_BULK = (b"$", b"!", b"=")
_AGGREGATE = (b"*", b"%", b"~", b"|", b">")
_PAIRS = (b"%", b"|")
_SIMPLE = (b"+", b"-", b":", b"_", b",", b"#", b"(")


class FaultyProxy:
    """Listens on ``port`` (127.0.0.1) and forwards to the Redis at ``upstream_port``."""

    def __init__(self, upstream_port: int, seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.counts = Counts()
        self._faults: list[_Fault] = []
        self._random = random.Random(seed)
        self._rates: tuple[float, float, Matcher] = (0.0, 0.0, anything)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._stopped = threading.Event()

    # --- faults

    def reset(self, matcher: Matcher = anything, times: int = 1) -> None:
        """Cut the connection of the next ``times`` matching requests before they reach Redis."""
        with self._lock:
            self._faults.append(_Fault("reset", matcher, times))

    def lose_reply(self, matcher: Matcher = anything, times: int = 1) -> None:
        """Let Redis run the next ``times`` matching requests, then cut the connection instead of
        forwarding their replies."""
        with self._lock:
            self._faults.append(_Fault("lose", matcher, times))

    def chaos(self, reset: float = 0.0, lose: float = 0.0, matcher: Matcher = anything) -> None:
        """From now on, reset (probability ``reset``) or lose the reply of (``lose``) any
        matching request, at random."""
        with self._lock:
            self._rates = (reset, lose, matcher)

    def calm(self) -> None:
        """No more faults."""
        with self._lock:
            self._faults.clear()
            self._rates = (0.0, 0.0, anything)

    def _fault_for(self, request: Request) -> str | None:
        with self._lock:
            name = request[0].decode(errors="replace") if request else "?"
            self.counts.requests += 1
            self.counts.by_command[name] = self.counts.by_command.get(name, 0) + 1
            for fault in self._faults:
                if fault.times and fault.matcher(request):
                    fault.times -= 1
                    self._faults = [kept for kept in self._faults if kept.times]
                    return fault.kind
            reset, lose, matcher = self._rates
            if (reset or lose) and matcher(request):
                draw = self._random.random()
                if draw < reset:
                    return "reset"
                if draw < reset + lose:
                    return "lose"
        return None

    # --- running

    def start(self) -> FaultyProxy:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port = free_port()
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(128)
        threading.Thread(target=self._accept, name="faulty-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            _close(client)
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sockets.update((client, upstream))
        requests, replies = _Reader(client), _Reader(upstream)
        try:
            while not self._stopped.is_set():
                raw, words = requests.message()
                if words:
                    words[0] = words[0].upper()
                fault = self._fault_for(words)
                if fault == "reset":
                    self.counts.resets += 1
                    return
                upstream.sendall(raw)
                reply, _ = replies.message()
                if fault == "lose":
                    self.counts.lost += 1
                    return
                client.sendall(reply)
        except (_Closed, OSError):
            return
        finally:
            for sock in (client, upstream):
                _close(sock)
            with self._lock:
                self._sockets.difference_update((client, upstream))


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
