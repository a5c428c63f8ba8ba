"""Recurring schedules (redbike-style), in progress: ``rules`` parses schedules and computes
their next run; the models, dispatcher and command will build on it."""
