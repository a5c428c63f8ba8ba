"""Loads a Lua script, with the vocabulary and the helpers it uses, and sends it to Redis.

A script's header (``-- KEYS:``, ``-- ARGV:``, ``-- RETURNS:``, ``-- RETRY:``) says what it takes,
returns and whether it is safe to resend; docs/ARCHITECTURE.md ("The Redis protocol") details it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.exceptions import ConnectionError, NoScriptError, ResponseError, TimeoutError

from .. import orm
from ..cluster import SlotMoved
from ..connection import replicas_of
from ..outages import NotReplicated
from .vocabulary import DURATION_BUCKETS, KEYS, LUA_ENUMS, STATUS_NAMES, STATUSES, Keys

_HERE = Path(__file__).parent
_LINE = re.compile(r"^-- (KEYS|ARGV|RETURNS|RETRY): (.*)$", re.MULTILINE)
_LIB_BLOCK = re.compile(r"^local (?:function )?(\w+)", re.MULTILINE)
_LUA_COMMENT = re.compile(r"--[^\n]*")
_WORD = re.compile(r"\w+")

try:  # hiredis packs a command in C: the hot paths call it directly
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a dependency
    _hiredis_pack = None


#: The scripts whose reply acknowledges a job to its caller (an add, an end, an operator's write):
#: with ``?replicas=N`` each is sent with a WAIT, in the same round trip, so that what it
#: acknowledged is on N replicas (and survives a failover). A take, a beat, a recovery need not.
ACKNOWLEDGING = frozenset({
    "add_job", "add_jobs", "finish", "finish_and_take", "finish_all_and_take", "enqueue_job", "cancel_job",
    "retry_job", "requeue_failed", "empty_queue", "pause_queue", "stop_workers", "control", "dispatch_due",
    "schedule_set", "schedule_unset", "schedule_mark", "pending_schedule", "pending_delete",
})


@dataclass(frozen=True)
class Header:
    """What a script's header declares."""

    summary: str
    keys: str
    argv: tuple[str, ...]  # fixed arguments, in order
    argv_rest: str  # name of the table holding the rest of ARGV ('' if none)
    returns: tuple[str, ...]  # named values of the result, in order ('' if free-form)
    retry: str  # why the script is safe to send again after a lost reply ('' if it is not)

    @classmethod
    def parse(cls, text: str) -> Header:
        lines = dict(_LINE.findall(text))
        summary = text.split("\n", 1)[0].removeprefix("-- ")
        names = [name.strip() for name in lines.get("ARGV", "").split(",") if name.strip()]
        rest = names.pop()[:-3] if names and names[-1].endswith("...") else ""
        returns = lines.get("RETURNS", "")
        named = tuple(name.strip() for name in returns.split("[")[0].split(",") if name.strip())
        return cls(summary, lines.get("KEYS", ""), tuple(names), rest, named, lines.get("RETRY", ""))

    def argv_locals(self) -> str:
        """Lua locals named after the ARGV names."""
        lines = []
        if self.argv:
            values = ", ".join(f"ARGV[{index}]" for index in range(1, len(self.argv) + 1))
            lines.append(f"local {', '.join(self.argv)} = {values}")
        if self.argv_rest:
            skip = len(self.argv)
            lines.append(f"local {self.argv_rest} = {{}}\n"
                         f"for i = {skip + 1}, #ARGV do {self.argv_rest}[i - {skip}] = ARGV[i] end")
        return "\n".join(lines)


def _lua_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _vocabulary(keys: Keys) -> dict[str, str]:
    """Lua definitions of the vocabulary, by the name scripts use."""
    definitions = {name: f"local {name} = {_lua_string(getattr(STATUSES, name))}" for name in STATUS_NAMES}
    for prefix, enum in LUA_ENUMS.items():
        for member in enum:
            name = f"{prefix}_{member.name}"
            definitions[name] = f"local {name} = {_lua_string(member.value)}"
    definitions["DURATION_BUCKETS"] = f"local DURATION_BUCKETS = {{{', '.join(map(str, DURATION_BUCKETS))}}}"
    return definitions


_KEY_CALL = re.compile(r"\bkey_(\w+)\(")


def expand_keys(text: str, keys: Keys = KEYS) -> str:
    """Write each ``key_<name>(a, b)`` call of a Lua source as the concatenation its template
    makes (``(a .. ':' .. b .. ...)``): the names come from the vocabulary, and cost no function
    call in Redis."""
    templates = {template.name: template for template in keys.templates()}
    out, position = [], 0
    while (call := _KEY_CALL.search(text, position)) is not None:
        template = templates.get(call.group(1))
        if template is None:
            raise ValueError(f"key_{call.group(1)}: no such key template in vocabulary.py")
        arguments, end = _arguments(text, call.end())
        if len(arguments) != len(template.parts):
            raise ValueError(f"key_{template.name} takes {', '.join(template.parts) or 'nothing'}, "
                             f"not {len(arguments)} argument(s): {text[call.start():end]}")
        values = dict(zip(template.parts, (f"({expand_keys(argument, keys)})" for argument in arguments),
                          strict=True))
        terms, literal = [], ""
        for index, piece in enumerate(re.split(r"\{(\w+)\}", template.template)):
            if index % 2 and piece != "prefix":
                terms += [_lua_string(literal)] if literal else []
                terms.append(values[piece])
                literal = ""
            else:  # the prefix is text (it may hold a {hash tag}), joined to the text around it
                literal += keys.prefix if index % 2 else piece
        terms += [_lua_string(literal)] if literal else []
        out += [text[position:call.start()], f"({' .. '.join(terms)})"]
        position = end
    return "".join(out) + text[position:]


def _arguments(text: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments of a call whose ``(`` ends at ``start``, and where it ends."""
    arguments, depth, current, index = [], 1, start, start
    while depth:
        char = text[index]
        if char in "'\"":
            index = text.index(char, index + 1)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 1:
            arguments.append(text[current:index].strip())
            current = index + 1
        index += 1
    last = text[current:index - 1].strip()
    return arguments + [last] if last or arguments else [], index


def _lib_blocks() -> dict[str, str]:
    """The blocks of ``lib/*.lua`` by the name each defines: a lib file is a header, then blocks
    (a comment and one top-level local or function) separated by blank lines."""
    blocks: dict[str, str] = {}
    for path in sorted((_HERE / "lib").glob("*.lua")):
        for paragraph in path.read_text().split("\n\n")[1:]:
            defined = _LIB_BLOCK.search(paragraph)
            if defined:
                if defined.group(1) in blocks:
                    raise ValueError(f"{defined.group(1)} is defined twice in lib/ ({path.name})")
                blocks[defined.group(1)] = paragraph.strip() + "\n"
    return blocks


def _words(source: str) -> set[str]:
    """The words of a Lua source outside its comments (a name in a comment is no use)."""
    return set(_WORD.findall(_LUA_COMMENT.sub("", source)))


def link(body: str, keys: Keys = KEYS) -> str:
    """``body`` preceded by the definitions it needs (directly or through those it uses), each
    after the ones it uses."""
    definitions, uses = _definitions(keys)
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ValueError(f"the lib definitions using {name} use each other: Lua cannot define them")
        visiting.add(name)
        for used in sorted(uses[name]):
            visit(used)
        ordered.append(name)

    for name in sorted(_words(body) & definitions.keys()):
        visit(name)
    return "\n".join(definitions[name] for name in ordered) + "\n" + body


@functools.cache
def _definitions(keys: Keys) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Everything a script may use, by name, and the names each definition uses."""
    definitions = {**_vocabulary(keys), **_lib_blocks()}
    uses = {name: _words(source) & definitions.keys() - {name} for name, source in definitions.items()}
    return definitions, uses


class LuaScript:
    """One script of ``scripts/``, sent with EVALSHA on a connection kept for hot paths.

    The hot paths (add, take, finish) are one round trip each; going around redis-py's command
    layer halves the client time they cost. Inside a limpyd pipeline the script goes through
    limpyd's ``database.call_script`` instead, so that it is part of the pipeline.

    When the connection breaks after the request was sent, the script may have run: it is sent
    once more on a new connection only if its header says ``RETRY: safe``; else the error is
    raised, and the caller finds out what happened (see ``Worker`` and its reconciliation).
    An ``ACKNOWLEDGING`` script on a database with ``replicas`` is followed by WAIT in the same
    write; fewer replicas than asked raise ``NotReplicated`` (an outage) after the script ran.
    """

    def __init__(self, name: str, keys: Keys = KEYS) -> None:
        self.name = name
        self.keys = keys
        self._text = (_HERE / "scripts" / f"{name}.lua").read_text()
        self.header = Header.parse(self._text)
        self._linked = link(self.header.argv_locals() + "\n" + self._text, keys)
        self._by_prefix: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self.acknowledges = name in ACKNOWLEDGING

    def _compiled(self) -> tuple[str, str, dict[str, Any]]:
        """(source, sha, limpyd's script dict) for the prefix of the keys now (a shard's, when sharded)."""
        prefix = self.keys.prefix
        found = self._by_prefix.get(prefix)
        if found is None:
            source = expand_keys(self._linked, Keys(prefix))
            sha = hashlib.sha1(source.encode()).hexdigest()
            found = self._by_prefix[prefix] = (source, sha, {"lua": source})
        return found

    @property
    def source(self) -> str:
        """The Lua source sent, for the prefix of the keys now."""
        return self._compiled()[0]

    @property
    def sha(self) -> str:
        """The SHA1 of ``source``."""
        return self._compiled()[1]

    def __call__(self, database: Any, keys: Sequence[str] = (), args: Sequence[Any] = ()) -> Any:
        """Run the script (see the class docstring for a reply lost to a broken connection)."""
        source, sha, script = self._compiled()
        client = database.connection
        if orm.is_pipeline(client):
            return database.call_script(script, list(keys), list(args))
        connection = orm.kept_connection(client)
        command = ("EVALSHA", sha, len(keys), *keys, *args)
        packed = [_hiredis_pack(command)] if _hiredis_pack else connection.pack_command(*command)
        wait = self.acknowledges and replicas_of(getattr(database, "connection_settings", None) or {})
        if wait:
            packed = [*packed, *connection.pack_command("WAIT", *wait)]
        lost = 0
        for _ in range(3):
            try:
                orm.connected(connection).send_packed_command(packed)
            except (ConnectionError, TimeoutError):  # nothing was sent: safe to send again
                connection.disconnect()
                continue
            try:
                return _read(connection, wait)
            except NoScriptError:  # loaded where it is sent (after a failover, another server)
                connection.send_command("SCRIPT", "LOAD", source)
                connection.read_response()
            except SlotMoved:  # a cluster's slot moved (or has no master yet): it did not run
                continue
            except (ConnectionError, TimeoutError):  # it may have run
                connection.disconnect()
                lost += 1
                if not self.header.retry or lost > 1:
                    raise
        orm.connected(connection).send_packed_command(packed)
        return _read(connection, wait)

    def __repr__(self) -> str:
        return f"<LuaScript {self.name}>"


def _read(connection: Any, wait: tuple[int, int] | None) -> Any:
    """The reply of a script, and of the WAIT sent after it if ``wait`` (replicas, timeout)."""
    try:
        reply = connection.read_response()
    except ResponseError:
        if wait:
            with contextlib.suppress(ResponseError):
                connection.read_response()
        raise
    if wait:
        try:
            acknowledged = connection.read_response()
        except ResponseError as exc:  # a replica now (a failover): the next connection finds the master
            connection.disconnect()
            raise NotReplicated(str(exc)) from None
        if acknowledged < wait[0]:
            raise NotReplicated(f"{acknowledged} of {wait[0]} replica(s) acknowledged in {wait[1]} ms")
    return reply
