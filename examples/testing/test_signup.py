"""Tests of signup.py with the limpyd-jobs pytest plugin: ``pytest examples/testing``."""

import pytest
import signup

from limpyd_jobs.testing import JobFailed, run_jobs


@pytest.fixture(autouse=True)
def jobs(limpyd_jobs_database):
    """Every test gets an empty private Redis, and an empty outbox."""
    signup.OUTBOX.clear()


def test_sign_up_sends_one_welcome_email():
    signup.sign_up("ada@example.com")
    signup.sign_up("ada@example.com")  # the same job: queued once

    ran = run_jobs("emails")

    assert [(job.identifier, job.ending) for job in ran] == [("ada@example.com", "success")]
    assert signup.OUTBOX == ["ada@example.com"]


def test_a_bad_address_fails_its_job():
    signup.sign_up("not an address")

    [ran] = run_jobs("emails")

    assert ran.ending == "error"
    assert isinstance(ran.error, ValueError)
    with pytest.raises(JobFailed):  # or let a test fail at the job's exception
        signup.sign_up("still not one")
        run_jobs("emails", raise_errors=True)
