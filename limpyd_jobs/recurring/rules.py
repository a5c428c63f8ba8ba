"""Schedules and their next run: pure time maths, no Redis.

A schedule is ``NOW``, ``AT:<timestamp>``, ``CONTINUE``, ``STOP`` or an iCalendar RRULE with an
optional ``DTSTART`` (its ``TZID`` keeps a local hour across DST changes); the formats, and where
an RRULE without DTSTART starts: docs/recurring.rst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, HOURLY, MINUTELY, SECONDLY, WEEKLY, rrule, rrulestr

from ..exceptions import LimpydJobsException

NOW, AT, CONTINUE, STOP, RRULE = "NOW", "AT", "CONTINUE", "STOP", "RRULE"


class BadSchedule(LimpydJobsException, ValueError):
    """A schedule that is none of NOW, AT:<timestamp>, CONTINUE, STOP, or a valid RRULE."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: its kind, its text, and what its kind needs."""

    kind: str
    text: str
    at: float | None = None
    rule: Any = None  # a dateutil rrule when kind is RRULE
    has_start: bool = False
    zone: ZoneInfo | None = None
    #: An RRULE without DTSTART read with a ``start``: the whole second after it. Occurrences
    #: between the rule's start (``start`` truncated to the minute) and ``start`` itself came
    #: before the rule was set: they are missed, and run once, at ``opens``.
    opens: float | None = None

    def next_run(self, after: float) -> float | None:
        """Timestamp of the first run strictly after ``after`` (None: no run left).

        NOW and CONTINUE run at ``after`` itself."""
        if self.kind in (NOW, CONTINUE):
            return after
        if self.kind == STOP:
            return None
        if self.kind == AT:
            return self.at if self.at >= after else None
        if self.opens is not None and after < self.opens:
            first = self.rule.after(self.rule._dtstart, inc=True)
            if first is not None and first.timestamp() <= after:  # missed as the rule was set
                return self.opens
        moment = datetime.fromtimestamp(after, timezone.utc)
        rule = _close_to(self.rule, moment) if self.has_start else self._starting_at(moment)
        found = rule.after(moment, inc=False)
        return None if found is None else found.timestamp()

    def _starting_at(self, moment: datetime) -> Any:
        """A rule without DTSTART starts at the reference time (in its zone, if it has one)."""
        return self.rule.replace(dtstart=_rule_start(self.rule, moment.timestamp(), self.zone))

    @property
    def repeats(self) -> bool:
        """Whether a run is followed by another (CONTINUE, or an RRULE with runs left)."""
        return self.kind in (CONTINUE, RRULE)


_PERIODS = {SECONDLY: timedelta(seconds=1), MINUTELY: timedelta(minutes=1), HOURLY: timedelta(hours=1),
            DAILY: timedelta(days=1), WEEKLY: timedelta(weeks=1)}


def _rule_start(rule: Any, when: float, zone: ZoneInfo | None) -> datetime:
    """Where a rule without DTSTART starts when set at ``when``, in the rule's zone.

    The whole minute of ``when``; for a SECONDLY rule, the whole second after it."""
    if rule._freq == SECONDLY:
        return datetime.fromtimestamp(int(when) + 1, zone or timezone.utc)
    return datetime.fromtimestamp(when, zone or timezone.utc).replace(second=0, microsecond=0)


def _close_to(rule: Any, moment: datetime) -> Any:
    """The same rule, its start moved by whole periods to just before ``moment``.

    dateutil walks every occurrence from the start: seconds for a frequent rule started long ago
    (rules with COUNT or BYSETPOS, and monthly or yearly ones, stay as they are)."""
    period = _PERIODS.get(rule._freq)
    if period is None or rule._count is not None or rule._bysetpos:
        return rule
    start = rule._dtstart
    wall_moment = moment.astimezone(start.tzinfo) if start.tzinfo else moment
    steps = (wall_moment.replace(tzinfo=None) - start.replace(tzinfo=None)) // (period * rule._interval) - 1
    if steps <= 0:
        return rule
    return rule.replace(dtstart=start + steps * rule._interval * period)


def parse(text: str, tz: str | None = None, start: float | None = None) -> Schedule:
    """Read a schedule; BadSchedule says what is wrong with it.

    An RRULE without DTSTART starts at ``start`` (else at each reference time), to the minute,
    so that its COUNT counts from there."""
    if not isinstance(text, str) or not text.strip():
        raise BadSchedule(f"a schedule must be a non-empty string, not {text!r}")
    text = text.strip()
    upper = text.upper()
    if upper in (NOW, CONTINUE, STOP):
        return Schedule(upper, upper)
    if upper.startswith("AT:"):
        try:
            return Schedule(AT, text, at=float(text[3:]))
        except ValueError:
            raise BadSchedule(
                f"{text!r}: AT must be followed by a unix timestamp, e.g. AT:1767225600"
            ) from None
    return _parse_rrule(text, tz, start)


def _parse_rrule(text: str, tz: str | None, start: float | None) -> Schedule:
    zone = time_zone(tz) if tz else None
    has_start = "DTSTART" in text.upper()
    try:
        rule = rrulestr(text, unfold=True)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadSchedule(
            f"{text!r} is not NOW, AT:<timestamp>, CONTINUE, STOP or a valid RRULE: {exc}"
        ) from None
    if not isinstance(rule, rrule):
        raise BadSchedule(f"{text!r}: give one RRULE (sets of rules are not supported)")
    opens = None
    if has_start and rule._dtstart.tzinfo is None:  # a DTSTART without zone: wall clock in tz
        rule = rule.replace(dtstart=rule._dtstart.replace(tzinfo=zone or timezone.utc))
    elif not has_start and start is not None:
        rule, has_start = rule.replace(dtstart=_rule_start(rule, start, zone)), True
        opens = float(int(start) + 1)
    return Schedule(RRULE, text, rule=rule, has_start=has_start, zone=zone, opens=opens)


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Paris``); BadSchedule if there is none of that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadSchedule(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None
