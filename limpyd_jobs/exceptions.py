"""Exceptions raised by limpyd-jobs, all below ``LimpydJobsException``."""

from __future__ import annotations


class LimpydJobsException(Exception):
    """Root of every error raised by limpyd-jobs."""


class ConfigurationException(LimpydJobsException):
    """A worker, model or command-line setting is missing or invalid."""


class InvalidValue(LimpydJobsException, ValueError):
    """A value given to limpyd-jobs (an identifier, a queue name, a priority...) is not valid."""


class InvalidType(LimpydJobsException, TypeError):
    """A value given to limpyd-jobs is not of the type it must be (an identifier is a str...)."""


class InvalidIdent(LimpydJobsException, ValueError):
    """A job ident does not read ``module.Model:pk`` or names no importable Job model."""


class UnknownModel(InvalidIdent, AttributeError):
    """A job ident names a module without that model: an AttributeError too, as redis-limpyd-jobs raised."""


class InvalidDelay(LimpydJobsException, ValueError):
    """``delayed_until`` / ``delayed_for`` is of a type or value that cannot be used."""


class InvalidStatus(LimpydJobsException, ValueError):
    """A status is not one of ``STATUSES``."""


class JobTimeout(LimpydJobsException):
    """A job ran longer than its timeout and was stopped."""


class JobProcessDied(LimpydJobsException):
    """The process running a job (forked modes) died before finishing it."""


class WorkerLost(LimpydJobsException):
    """The worker running a job stopped beating (killed, crashed, cut off) before finishing it."""


class WorkerInterrupted(BaseException):
    """Raised in a running job when a worker gets a second stop signal: stop now, give the job back.

    A BaseException, like KeyboardInterrupt, so that ``except Exception`` in jobs does not swallow it.
    """
