"""A job's history as the scripts write it: one JSON object per event, in its ``history`` list."""

from __future__ import annotations

import json
from typing import Any

from .utils import to_utc


def history_entries(entries: list[str]) -> list[dict[str, Any]]:
    """The events of a job's ``history`` list as the scripts wrote them (``at``: a date string or
    a timestamp); an entry that is not a JSON object is shown as it is, as an ``unreadable`` event."""
    events = []
    for entry in entries:
        try:
            event = json.loads(entry)
        except ValueError:  # malformed in Redis
            event = None
        events.append(event if isinstance(event, dict) else {"event": "unreadable", "entry": entry})
    return events


def decoded_events(entries: list[str]) -> list[dict[str, Any]]:
    """``history_entries``, each ``at`` as an aware UTC datetime (None when not known or unreadable)."""
    return [{**event, "at": to_utc(event.get("at"))} for event in history_entries(entries)]
