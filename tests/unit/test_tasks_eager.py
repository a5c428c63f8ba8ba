"""Eager mode: a task enqueued runs there and then, through the JSON check, and nothing reaches Redis
(the unit tests' models point at a socket that does not answer)."""

from __future__ import annotations

import pytest
import redis

from limpyd_jobs import get_result, task
from limpyd_jobs.tasks import TaskResultStatus
from limpyd_jobs.testing import eager


@task
def add(a, b):
    return a + b


@task
async def add_later(a, b):
    return a + b


@task
def boom():
    raise KeyError("no such thing")


@task
def not_json():
    return {1, 2}


def test_an_eager_task_runs_at_enqueue_and_its_result_is_finished():
    with eager():
        result = add.enqueue(2, b=3)
    assert (result.status, result.return_value, result.attempts) == (TaskResultStatus.SUCCESSFUL, 5, 1)
    assert (result.args, result.kwargs) == ([2], {"b": 3})
    assert get_result(result.id).return_value == 5
    assert result.wait(timeout=1) is result


def test_an_eager_async_task_runs_on_an_event_loop():
    with eager():
        assert add_later.enqueue(1, 2).return_value == 3


def test_an_eager_failure_is_raised_to_the_caller_unless_told_otherwise():
    with eager(), pytest.raises(KeyError):
        boom.enqueue()
    with eager(propagate=False):
        result = boom.enqueue()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "builtins.KeyError"
    assert "no such thing" in result.errors[0].traceback
    with pytest.raises(ValueError):
        result.return_value  # noqa: B018


def test_eager_arguments_and_results_are_held_to_json_as_with_a_worker():
    with eager(), pytest.raises(TypeError):
        add.enqueue((1, 2), [3])
    with eager(), pytest.raises(TypeError):
        not_json.enqueue()


def test_the_environment_turns_eager_mode_on_and_eager_false_off(monkeypatch):
    monkeypatch.setenv("LIMPYD_JOBS_EAGER", "1")
    assert add.enqueue(1, 1).return_value == 2
    with eager(enabled=False), pytest.raises(redis.ConnectionError):  # enqueued: to an unreachable Redis
        add.enqueue(1, 1)
