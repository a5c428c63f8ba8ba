"""Recurring jobs, in the style of redbike: a schedule per job id, run by ordinary workers.

    from limpyd_jobs.recurring import set_schedule, dispatch

    set_schedule("report:daily", "DTSTART;TZID=Europe/Paris:20260101T090000\\nRRULE:FREQ=DAILY")
    dispatch()  # or run_dispatcher(), or `limpyd-jobs schedule dispatch`

``rules`` is pure time maths (no Redis), ``scheduler`` the models and the operations exported
here (``control`` is ``operations.control``); it never imports the worker. docs/recurring.rst.
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
