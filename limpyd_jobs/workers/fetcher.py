"""Where a worker takes its jobs from, and how it waits for one."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from redis.exceptions import RedisError

from .. import orm, shards
from ..clock import Clock
from ..connection import client_for
from ..constants import LOGGER_NAME
from ..models import Queue
from ..orm import model_name, shut_down
from ..protocol import KEYS, TakeOutcome
from ..protocol.scripts import take, take_many
from ..protocol.scripts.take import Taken
from ..utils import stored
from ..validation import parse_priority

logger = logging.getLogger(LOGGER_NAME)

#: Unblocks sent to end one wait at most, and the seconds waited for its reply between two.
UNBLOCK_TRIES, UNBLOCK_PAUSE = 5, 0.01


@dataclass(frozen=True)
class QueueInfo:
    """One of the worker's queues (a name at one priority), as read by ``Fetcher.refresh``."""

    queue: Queue
    pk: str
    name: str
    priority: int
    waiting_key: str
    delayed_key: str


class TakeRequest(NamedTuple):
    """What a take needs, for a script that takes the next job along with another write."""

    waiting_keys: list[str]
    delayed_keys: list[str]
    want_counts: bool
    now_str: str
    now_score: float


class Fetcher:
    """Takes jobs from the waiting lists of some queue names, highest priority first (or in the
    ``cycle`` ratio of names), up to ``prefetch`` per script; keeps the jobs taken ahead (with the
    end of the previous one, or by a take of several) until they are asked for, in order. The
    lists to take from are the worker's ``keys`` (as ``refresh`` read them, unless the worker's
    ``update_keys`` chose otherwise)."""

    def __init__(self, queue_model: type[Queue], names: list[str], cycle: list[str] | None, worker_id: str,
                 clock: Clock, on_next_due: Callable[[float | None], None] = lambda at: None,
                 prefetch: int = 1) -> None:
        self.queue_model = queue_model
        #: Jobs to take per script.
        self.prefetch = prefetch
        #: Told, at each take, when the first delayed job of the queues is due (None: none is).
        self.on_next_due = on_next_due
        self.names = names
        self.cycle = cycle
        self.worker_id = worker_id
        self.clock = clock
        self.queues: list[QueueInfo] = []
        self._by_key: dict[str, QueueInfo] = {}
        self._delayed_keys: list[str] = []
        #: Count waiting and delayed jobs at each take (for the process title).
        self.want_counts = False
        #: (waiting, delayed) jobs, as counted by the last take.
        self.counts = (0, 0)
        #: When the first delayed job of the queues is due, as the last take said (None: none is).
        self.next_due: float | None = None
        self._turn = 0
        self._kept: deque[Taken] = deque()
        #: A take (or a take along with an end) failed: it may have run without its reply
        #: arriving, leaving a job in the running set that the worker does not know it holds.
        self.take_lost = False

    def refresh(self) -> list[str]:
        """Read the queues of the names (one per priority), highest priority first, then in the
        order of the names; return their waiting lists' keys."""
        self.queues = []
        for queue in self.queue_model.get_all(self.names):
            name, priority = queue.hmget("name", "priority")
            try:
                number = parse_priority(priority or 0)
            except ValueError as exc:  # malformed in Redis: that queue is left out, the others run
                logger.error("queue %s (%s) left out: %s", queue.pk.get(), name, exc)
                continue
            self.queues.append(QueueInfo(queue, queue.pk.get(), name or "", number, queue.waiting.key,
                                         queue.delayed.key))
        rank = {name: position for position, name in enumerate(self.names)}
        self.queues.sort(key=lambda info: (-info.priority, rank.get(info.name, len(rank)), info.name))
        self._by_key = {info.waiting_key: info for info in self.queues}
        self._delayed_keys = [info.delayed_key for info in self.queues]
        return [info.waiting_key for info in self.queues]

    def keys(self) -> list[str]:
        """The waiting lists of the queues, as the last ``refresh`` read them."""
        return [info.waiting_key for info in self.queues]

    def info(self, waiting_key: str) -> QueueInfo | None:
        """The queue whose waiting list this is, if it is one of the worker's."""
        return self._by_key.get(waiting_key)

    def order(self, keys: list[str]) -> list[str]:
        """The waiting lists (``keys``, highest priority first) to take from this time, in order:
        as they are, or with a ``cycle``, the lists of this turn's queue name first."""
        if not self.cycle:
            return keys
        name = self.cycle[self._turn % len(self.cycle)]
        self._turn += 1
        first = [key for key in keys if key in self._by_key and self._by_key[key].name == name]
        return first + [key for key in keys if key not in first]

    def request(self, keys: list[str]) -> TakeRequest:
        """A take of the next job from ``keys``, now, for a script that does it with another write."""
        now_str, now_score = stored(self.clock.now())
        return TakeRequest(self.order(keys), self._delayed_keys, self.want_counts, now_str, now_score)

    def take(self, keys: list[str], woken: bool = False) -> Taken | None:
        """The first job kept from an earlier take if any, else the next job of the waiting lists
        ``keys`` (None if nothing waits), taking up to ``prefetch`` at once. ``woken``: the worker
        was just woken up (it wakes another if jobs remain)."""
        if self._kept:
            return self._kept.popleft()
        if not keys:
            return None
        request = self.request(keys)
        try:
            if self.prefetch > 1:
                taken: Taken | list[Taken] = take_many.call(
                    self.queue_model.database, request.waiting_keys, worker=self.worker_id,
                    now_str=request.now_str, now_score=request.now_score, want_counts=request.want_counts,
                    pass_on=woken, count=self.prefetch, delayed_keys=request.delayed_keys)
            else:
                taken = take.call(self.queue_model.database, request.waiting_keys, worker=self.worker_id,
                                  now_str=request.now_str, now_score=request.now_score,
                                  want_counts=request.want_counts, pass_on=woken,
                                  delayed_keys=request.delayed_keys)
        except RedisError:
            self.take_lost = True
            raise
        jobs = self._note(taken)
        self._kept.extend(jobs[1:])
        return jobs[0] if jobs else None

    def keep(self, taken: Taken | list[Taken]) -> None:
        """Keep the jobs a write took along (with an end) for the next ``take``s."""
        self._kept.extend(self._note(taken))

    def _note(self, taken: Taken | list[Taken]) -> list[Taken]:
        """Note the counts and the next due time the (last) take returned; the jobs it found."""
        batch = taken if isinstance(taken, list) else [taken]
        last = batch[-1]
        self.counts = (last.waiting, last.delayed)
        due = last.next_due  # on Redis's clock, when it decides: as a time of this worker's clock
        self.next_due = orm.local_time(self.queue_model.database, due) if self.clock.server_time else due
        self.on_next_due(self.next_due)
        return [one for one in batch if one.outcome != TakeOutcome.EMPTY]

    @property
    def holds_one(self) -> bool:
        """Whether jobs taken ahead wait for the next ``take``."""
        return bool(self._kept)

    def release_kept(self) -> list[Taken]:
        """Forget the jobs kept for the next takes, and return them (to give them back)."""
        kept, self._kept = list(self._kept), deque()
        return kept

    @property
    def kept_count(self) -> int:
        """How many jobs are kept for the next takes (without listing them)."""
        return len(self._kept)

    def kept_idents(self) -> list[str]:
        """The jobs kept for the next takes (they are held)."""
        return [taken.ident for taken in self._kept]

    def wakeup_keys(self) -> list[str]:
        """The wake-up lists of the worker's queue names."""
        return [KEYS.wakeup(model=model_name(self.queue_model), name=name) for name in self.names]


def reply_within(connection: Any, seconds: float) -> bool:
    """Whether a reply is readable on ``connection`` within ``seconds`` (a timer of this process)."""
    return bool(connection.can_read(timeout=seconds))


class WakeUpWait:
    """Blocks until a job is announced in one of some wake-up lists, on a connection of its own
    (its socket timeout outlasts the wait) that ``cut`` interrupts from a signal handler.
    A timed wait ends on a timer of this process, not Redis's: Redis ends a blocking command's
    timeout at its own pace (up to ``1000 / hz`` ms late, 100 ms on its defaults)."""

    def __init__(self, database: Any, keys: list[str], timeout: float,
                 reply_within: Callable[[Any, float], bool] = reply_within) -> None:
        self.database = database
        self.keys = keys
        self.timeout = timeout  # the longest wait (0: no limit)
        #: Whether a reply arrives within some seconds (the timer; tests replace it).
        self.reply_within = reply_within
        #: The key whose token ended the last wait (None: it timed out or was cut).
        self.woken_by: str | None = None
        self._connection: Any = None
        self._client_id: int | None = None
        self._waiting_on: Any = None

    def _connect(self) -> Any:
        settings = dict(self.database.connection_settings)
        settings["socket_timeout"] = self.timeout + 10 if self.timeout else None
        route = settings["shards_route"] = shards.prefix()  # a cluster's shard: the master of its slot
        if self._connection is None or self._connection[0] != settings:
            client = client_for({name: value for name, value in settings.items() if name != "shards_route"},
                                route=route, decode_responses=True)  # a master found through sentinels
            connection = client.connection_pool.get_connection()
            connection.register_connect_callback(self._forget_client_id)
            self._connection = (settings, connection)
            self._client_id = None
        return self._connection[1]

    def _forget_client_id(self, connection: Any) -> None:
        """A (re)connection is a new client: its id is read again before the next timed wait."""
        self._client_id = None

    def wait(self, seconds: float, must_stop: Callable[[], bool]) -> bool:
        """True if a token came within ``seconds`` (0: no limit); False on timeout, or if
        ``must_stop`` says so (before the wait, or after a ``cut``)."""
        connection = self._waiting_on = self._connect()
        self.woken_by = None
        try:
            if must_stop():
                return False
            connection = orm.connected(connection)
            connection.connect()  # nothing if connected; a reconnection forgets the client id
            if seconds and self._client_id is None:
                connection.send_command("CLIENT", "ID")  # once per connection: to unblock it
                self._client_id = int(connection.read_response())
            # Redis's own timeout stays as a backstop, should the unblock not reach it.
            connection.send_command("BLPOP", *self.keys, seconds)
            if seconds and not self.reply_within(connection, seconds):
                self._unblock(connection)
            reply = connection.read_response()  # a token that came meanwhile is read, not lost
            self.woken_by = reply[0] if reply else None
            return bool(reply)
        except (RedisError, OSError):
            connection.disconnect()
            self._client_id = None
            if must_stop():  # a stop signal cut the wait short
                return False
            raise
        finally:
            self._waiting_on = None

    def _unblock(self, connection: Any) -> None:
        """End the blocked BLPOP now as a timeout (a no-op if its reply is already on its way).
        An unblock that finds it not blocked yet (sent on another connection, it can come first)
        is sent again, a few times, unless the reply comes meanwhile."""
        if self._client_id is None:  # reconnected by the BLPOP's send: Redis's timeout ends it
            return
        for _ in range(UNBLOCK_TRIES):
            try:
                if self.database.connection.execute_command("CLIENT", "UNBLOCK", self._client_id, "TIMEOUT"):
                    return
            except RedisError as exc:  # Redis then ends the wait itself, a little late
                logger.debug("could not end a wait on time: %s", exc)
                return
            # the socket itself, not the timer given (a test's ends the wait at once): is its reply coming?
            if reply_within(connection, UNBLOCK_PAUSE):
                return


    def cut(self) -> None:
        """End the current wait at once (its read fails): safe from a signal handler."""
        if self._waiting_on is not None:
            shut_down(self._waiting_on)
