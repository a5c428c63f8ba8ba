"""A job's history as the scripts write it: one JSON object per event, in its ``history`` list.

Adding a job writes no event (a command and a key less per job): its ``added`` event, first, is
made here from the job's ``added`` field and queue, unless the list starts with one (older data).
"""

from __future__ import annotations

import json
from typing import Any

from .protocol import KEYS
from .utils import to_utc

ADDED = "added"


def history_entries(entries: list[str], added: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The events of a job's ``history`` list as the scripts wrote them (``at``: a date string or
    a timestamp), after the ``added`` event made of ``added`` (``at``, ``queue``; None: none made);
    an entry that is not a JSON object is shown as it is, as an ``unreadable`` event."""
    events = []
    for entry in entries:
        try:
            event = json.loads(entry)
        except ValueError:  # malformed in Redis
            event = None
        events.append(event if isinstance(event, dict) else {"event": "unreadable", "entry": entry})
    if added and added.get("at") and not (events and events[0].get("event") == ADDED):
        events.insert(0, {"event": ADDED, **added})
    return events


def decoded_events(entries: list[str], added: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``history_entries``, each ``at`` as an aware UTC datetime (None when not known or unreadable)."""
    return [{**event, "at": to_utc(event.get("at"))} for event in history_entries(entries, added)]


def added_event(values: dict[str, Any], queue_name: str | None) -> dict[str, Any] | None:
    """The details of a job's ``added`` event from its fields (``added``) and its queue's name."""
    if not values.get("added"):
        return None
    return {"at": values["added"], **({"queue": queue_name} if queue_name else {})}


def read_history(connection: Any, model: str, pk: str) -> tuple[list[str], dict[str, Any] | None]:
    """A job's ``history`` list and the details of its ``added`` event (two round trips at most)."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.lrange(KEYS.field(model=model, pk=pk, field="history"), 0, -1)
        pipe.hmget(KEYS.hash(model=model, pk=pk), "added", "queue_key")
        entries, (added, queue_key) = pipe.execute()
    name = None
    if added and queue_key and ":" in queue_key:
        queue_model, _, queue_pk = queue_key.rpartition(":")
        name = connection.hget(KEYS.hash(model=queue_model, pk=queue_pk), "name")
    return entries, added_event({"added": added}, name)
