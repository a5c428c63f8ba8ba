#!/usr/bin/env python
"""Run a limpyd-jobs worker: the same as the installed ``limpyd-jobs-worker`` command."""

from limpyd_jobs.cli.worker import run

if __name__ == "__main__":
    run()
