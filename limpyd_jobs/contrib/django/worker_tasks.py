"""What ``manage.py limpyd_jobs_worker`` does for Django tasks before the worker starts.

It imports the ``tasks`` module of every installed app and the ``--job-modules``, and keeps the
``Task`` objects found there: the only ones its jobs may run. Its queues default to the
``QUEUES`` of the project's ``LimpydJobsBackend`` backends.
"""

from __future__ import annotations

from collections.abc import Callable

QUEUES_FLAG = "--queues"
JOB_MODULES_FLAG = "--job-modules"


def option_values(arguments: list[str], flag: str) -> list[str]:
    """The values given to ``flag`` in ``arguments`` (``--flag=value`` or ``--flag value``)."""
    values = []
    for index, argument in enumerate(arguments):
        if argument.startswith(flag + "="):
            values.append(argument[len(flag) + 1:])
        elif argument == flag and index + 1 < len(arguments):
            values.append(arguments[index + 1])
    return values


def prepare(arguments: list[str], say: Callable[[str], object] = print) -> list[str]:
    """Import the Django tasks the worker may run; return ``arguments`` with ``--queues``
    defaulting (first, so that any other value wins) to the backends' QUEUES; ``say`` tells
    which tasks were found."""
    try:
        from .tasks import queues_of_backends
    except ImportError:  # no task framework installed: identifier jobs only
        return arguments
    queues = queues_of_backends()
    if not queues:
        return arguments
    from . import discovery

    found = discovery.discover_apps()
    modules = [name for value in option_values(arguments, JOB_MODULES_FLAG)[-1:]
               for name in value.split(",") if name.strip()]
    found += discovery.import_and_scan(name.strip() for name in modules)
    say(f"Django tasks this worker runs: {', '.join(sorted({task.module_path for task in found})) or 'none'}")
    return [f"{QUEUES_FLAG}={','.join(queues)}", *arguments]
