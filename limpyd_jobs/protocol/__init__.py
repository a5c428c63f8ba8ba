"""The Redis protocol of limpyd-jobs: what is stored where, and the scripts that change it.

- ``vocabulary``: statuses, outcome codes and key templates, shared with the Lua scripts;
- ``loader``: reads a script's header, links it with the vocabulary and the
  ``lib/*.lua`` helpers it uses, sends it;
- ``scripts/NAME.lua`` and ``scripts/NAME.py``: one script per atomic operation, and its typed
  wrapper (``from limpyd_jobs.protocol.scripts import take; take.call(database, ...)``).
"""

from .vocabulary import (
    KEYS,
    STATUSES,
    CancelOutcome,
    ControlOrder,
    EndRefusal,
    Keys,
    LostJobOutcome,
    ScheduleEvent,
    TakeOutcome,
)

__all__ = ["KEYS", "STATUSES", "CancelOutcome", "ControlOrder", "EndRefusal", "Keys", "LostJobOutcome",
           "ScheduleEvent", "TakeOutcome"]
