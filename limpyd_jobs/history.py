"""A job's history as the scripts write it: one JSON object per event, in its ``history`` list.

Adding a job writes no event (a command and a key less per job): its ``added`` event, first, is
made here from the job's ``added`` field and queue, unless the list starts with one (older data).
Nor does a take, nor a success: the current attempt's ``started`` and a success's ``succeeded``
are made from the job's fields, last, until a script writes them (before an event of its own or
a change of those fields: ``tell_attempt`` in lib/history.lua), naming it in ``told``.
"""

from __future__ import annotations

import json
from typing import Any

from .protocol import KEYS, STATUSES
from .utils import to_utc

ADDED = "added"


def history_entries(entries: list[str], added: dict[str, Any] | None = None,
                    fields: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The events of a job's ``history`` list as the scripts wrote them (``at``: a date string or
    a timestamp), after the ``added`` event made of ``added`` (``at``, ``queue``; None: none made),
    and before those its ``fields`` tell (``attempt_events``); an entry that is not a JSON object
    is shown as it is, as an ``unreadable`` event."""
    events = []
    for entry in entries:
        try:
            event = json.loads(entry)
        except ValueError:  # malformed in Redis
            event = None
        events.append(event if isinstance(event, dict) else {"event": "unreadable", "entry": entry})
    if added and added.get("at") and not (events and events[0].get("event") == ADDED):
        events.insert(0, {"event": ADDED, **added})
    written = {(event.get("event"), event.get("at"), event.get("attempt")) for event in events[-3:]}
    events += [told for told in attempt_events(fields or {})
               if (told["event"], told["at"], told["attempt"]) not in written]  # written by older takes
    return events


def attempt_events(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a job's fields tell (``status``, ``start``, ``attempt``, ``end``, ``told``):
    its current attempt's ``started``, and ``succeeded`` if SUCCESS, unless written already."""
    token, start = fields.get("attempt") or "", fields.get("start")
    worker, _, tries = token.rpartition(":")
    if not (start and worker and tries.isdigit()) or fields.get("told") == token:
        return []
    details = {"worker": worker, "attempt": int(tries)}
    told = [{"event": "started", "at": start, **details}]
    if fields.get("status") == STATUSES.SUCCESS and fields.get("end"):
        told.append({"event": "succeeded", "at": fields["end"], **details})
    return told


def decoded_events(entries: list[str], added: dict[str, Any] | None = None,
                   fields: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``history_entries``, each ``at`` as an aware UTC datetime (None when not known or unreadable)."""
    return [{**event, "at": to_utc(event.get("at"))} for event in history_entries(entries, added, fields)]


def added_event(values: dict[str, Any], queue_name: str | None) -> dict[str, Any] | None:
    """The details of a job's ``added`` event from its fields (``added``) and its queue's name."""
    if not values.get("added"):
        return None
    return {"at": values["added"], **({"queue": queue_name} if queue_name else {})}


def read_history(connection: Any, model: str,
                 pk: str) -> tuple[list[str], dict[str, Any] | None, dict[str, Any]]:
    """A job's ``history`` list, the details of its ``added`` event and the fields that tell its
    attempt's events (two round trips at most)."""
    with connection.pipeline(transaction=True) as pipe:  # the list and the fields of one moment
        pipe.lrange(KEYS.field(model=model, pk=pk, field="history"), 0, -1)
        pipe.hmget(KEYS.hash(model=model, pk=pk), *_READ)
        entries, values = pipe.execute()
    fields = dict(zip(_READ, values, strict=True))
    added, queue_key = fields["added"], fields["queue_key"]
    name = None
    if added and queue_key and ":" in queue_key:
        queue_model, _, queue_pk = queue_key.rpartition(":")
        name = connection.hget(KEYS.hash(model=queue_model, pk=queue_pk), "name")
    return entries, added_event({"added": added}, name), fields


#: The fields read with a job's history.
_READ = ("added", "queue_key", "status", "start", "attempt", "end", "told")
