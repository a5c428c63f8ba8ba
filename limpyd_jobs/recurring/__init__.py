"""Recurring jobs, in the style of redbike: a schedule per job id, run by ordinary workers.

    from limpyd_jobs.recurring import set_schedule, dispatch, tell

    set_schedule("report:daily", "DTSTART;TZID=Europe/Paris:20260101T090000\\nRRULE:FREQ=DAILY")
    dispatch()            # or run_dispatcher(), or `limpyd-jobs-schedule dispatch`
    tell("report:daily")  # {"status": "TML:1767225600", "next_run": 1767254400.0, ...}

A schedule is ``NOW``, ``AT:<timestamp>``, ``CONTINUE``, ``STOP`` or an iCalendar RRULE (see
``rules``). Setting one enters its next run at once: in the timeline, or in its queue (named
after the job id's last ``:`` part) when due; a dispatcher moves due runs from the timeline into
their queues. Each run is a ``RecurringJob`` taken by any worker of that queue; after it, the
next occurrence is placed. A run raising ``StopWork`` sets its schedule to STOP, ``UnsetJob``
removes it. ``statuses()`` gives each job id's last event (``EVENT:TIMESTAMP``), ``schedules()``
every schedule, and ``control("HALT")`` stops dispatchers and workers after their current task.

``rules`` is pure time maths (no Redis); ``scheduler`` holds the models and the operations,
which this package exports (``control`` is ``operations.control``). It never imports the worker.
"""

from __future__ import annotations

from ..operations import control  # the control key is every worker's: it lives with the operations
from .rules import BadSchedule
from .scheduler import (
    RecurringJob,
    RecurringSchedule,
    StopWork,
    UnsetJob,
    dispatch,
    run_dispatcher,
    schedules,
    set_schedule,
    statuses,
    tell,
    tell_all,
    unset_schedule,
)

__all__ = [
    "BadSchedule", "RecurringJob", "RecurringSchedule", "StopWork", "UnsetJob", "control", "dispatch",
    "run_dispatcher", "schedules", "set_schedule", "statuses", "tell", "tell_all", "unset_schedule",
]
