"""Recurring jobs (redbike-style): ``rules`` reads schedules and computes their next run (pure
time maths); ``scheduler`` holds the schedules and the timeline as limpyd models, dispatches due
runs into queues, and reschedules each run from its ``RecurringJob`` hooks."""
