"""Recurring schedules: parsing and next run (pure time maths, no Redis needed)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from limpyd_jobs.recurring.rules import AT, NOW, RRULE, STOP, BadSchedule, parse


def ts(*args, tz=timezone.utc):
    return datetime(*args, tzinfo=tz).timestamp()


def utc(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc)


def test_special_schedules():
    after = ts(2026, 1, 1, 12, 0)
    assert parse("NOW").kind == NOW and parse("now").next_run(after) == after
    assert parse("CONTINUE").next_run(after) == after and parse("CONTINUE").repeats
    assert parse("STOP").kind == STOP and parse("STOP").next_run(after) is None
    at = parse(f"AT:{after + 60}")
    assert at.kind == AT and at.next_run(after) == after + 60
    assert at.next_run(after + 120) is None  # already past: no run
    assert not parse("NOW").repeats and not at.repeats


def test_rrule_with_utc_dtstart():
    schedule = parse("DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY")
    assert schedule.kind == RRULE and schedule.repeats
    assert utc(schedule.next_run(ts(2026, 1, 5, 10, 0))) == datetime(2026, 1, 6, 9, 0, tzinfo=timezone.utc)
    assert utc(schedule.next_run(ts(2026, 1, 5, 8, 0))) == datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, tz", [
    ("DTSTART;TZID=Europe/Paris:20260301T090000\nRRULE:FREQ=DAILY", None),
    ("DTSTART:20260301T090000\nRRULE:FREQ=DAILY", "Europe/Paris"),
])
def test_wall_clock_rule_keeps_its_local_hour_across_dst(text, tz):
    schedule = parse(text, tz=tz)
    before_dst = utc(schedule.next_run(ts(2026, 3, 27, 12, 0)))  # Paris is UTC+1
    after_dst = utc(schedule.next_run(ts(2026, 3, 30, 12, 0)))  # DST since March 29: UTC+2
    assert (before_dst.hour, after_dst.hour) == (8, 7)


def test_rrule_without_dtstart_starts_at_the_reference_time():
    schedule = parse("RRULE:FREQ=HOURLY;INTERVAL=2")
    after = ts(2026, 1, 1, 10, 30)
    assert schedule.next_run(after) == after + 7200


def test_rrule_with_no_occurrence_left():
    schedule = parse("DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;COUNT=3")
    assert schedule.next_run(ts(2026, 1, 2, 10, 0)) == ts(2026, 1, 3, 9, 0)
    assert schedule.next_run(ts(2026, 1, 3, 10, 0)) is None


@pytest.mark.parametrize("text", ["", "SOMETIMES", "AT:tomorrow", "RRULE:FREQ=NEVER", None, 42])
def test_bad_schedules_say_what_is_wrong(text):
    with pytest.raises(BadSchedule):
        parse(text)


def test_unknown_time_zone():
    with pytest.raises(BadSchedule, match="time zone"):
        parse("RRULE:FREQ=DAILY", tz="Mars/Olympus")


@pytest.mark.parametrize("text", [
    "DTSTART:20200106T090000Z\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO",
    "DTSTART:20200101T000700Z\nRRULE:FREQ=HOURLY;INTERVAL=5",
    "DTSTART;TZID=Europe/Paris:20200101T093000\nRRULE:FREQ=DAILY;INTERVAL=3",
    "DTSTART:20200101T000000Z\nRRULE:FREQ=MINUTELY;INTERVAL=7;BYHOUR=9",
])
def test_old_frequent_rules_keep_their_phase(text):
    schedule = parse(text)
    for when in (ts(2026, 3, 28, 23, 50), ts(2026, 3, 29, 1, 30), ts(2026, 11, 23, 18, 4)):
        moment = datetime.fromtimestamp(when, timezone.utc)
        assert schedule.next_run(when) == schedule.rule.after(moment, inc=False).timestamp()


def runs(schedule, start, limit=10):
    """The runs a schedule set at ``start`` makes, each computed after the previous one (as
    set_schedule then each reschedule does), as UTC datetimes."""
    found, after = [], start
    while len(found) < limit:
        after = schedule.next_run(after)
        if after is None:
            break
        found.append(utc(after))
    return found


@pytest.mark.parametrize("set_at", [ts(2026, 1, 1, 12, 0), ts(2026, 1, 1, 12, 0, 30)])
def test_count_of_a_rule_without_dtstart_counts_from_its_start(set_at):
    # the rule starts at 12:00:00; its first occurrence, reached as it was set, runs at once
    schedule = parse("RRULE:FREQ=MINUTELY;COUNT=2", start=set_at)
    assert runs(schedule, set_at) == [utc(set_at + 1), datetime(2026, 1, 1, 12, 1, tzinfo=timezone.utc)]


def test_rrule_without_dtstart_runs_at_whole_minutes_not_at_the_seconds_it_was_set():
    set_at = ts(2026, 1, 5, 10, 17, 29)  # the report of the issue: it ran at 09:00:29
    text = "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0"
    expected = [datetime(2026, 1, day, 9, 0, tzinfo=timezone.utc) for day in (6, 7, 8)]
    assert runs(parse(text, start=set_at), set_at, limit=3) == expected
    assert runs(parse(text), set_at, limit=3) == expected  # no start: from each reference time


def test_rrule_without_dtstart_keeps_the_minute_it_was_set_and_honours_bysecond():
    set_at = ts(2026, 1, 5, 10, 17, 29)
    hourly = runs(parse("RRULE:FREQ=HOURLY", start=set_at), set_at, limit=3)
    # 10:17:00 came as it was set: it runs at once; then each hour at 17 minutes, 0 seconds
    assert hourly == [utc(set_at + 1), datetime(2026, 1, 5, 11, 17, tzinfo=timezone.utc),
                      datetime(2026, 1, 5, 12, 17, tzinfo=timezone.utc)]
    at_30 = runs(parse("RRULE:FREQ=MINUTELY;BYSECOND=30", start=set_at), set_at, limit=2)
    assert at_30 == [datetime(2026, 1, 5, 10, minute, 30, tzinfo=timezone.utc) for minute in (17, 18)]


def test_rrule_without_dtstart_is_truncated_in_its_time_zone():
    set_at = ts(2026, 1, 5, 10, 17, 29)  # 15:47:29 in Kolkata (UTC+05:30)
    schedule = parse("RRULE:FREQ=DAILY;BYHOUR=9", tz="Asia/Kolkata", start=set_at)
    assert runs(schedule, set_at, limit=2) == [datetime(2026, 1, day, 4, 17, tzinfo=timezone.utc)
                                               for day in (6, 7)]  # 09:47:00 local


def test_secondly_rule_without_dtstart_starts_at_the_next_second():
    set_at = ts(2026, 1, 5, 10, 17, 29) + 0.5
    schedule = parse("RRULE:FREQ=SECONDLY;COUNT=3", start=set_at)
    assert runs(schedule, set_at) == [datetime(2026, 1, 5, 10, 17, second, tzinfo=timezone.utc)
                                      for second in (30, 31, 32)]
