"""What an operation raises when it cannot be done as asked."""

from __future__ import annotations

from ..exceptions import LimpydJobsException


class OperationError(LimpydJobsException):
    """An operation cannot be done as asked."""


class UnknownQueue(OperationError, LookupError):
    """No queue has this name."""


class UnknownJob(OperationError, LookupError):
    """No job is found for this ident or ``QUEUE/identifier``, or its model is not registered."""


class UnknownWorker(OperationError, LookupError):
    """No registered worker has this id."""


class JobStateError(OperationError):
    """The job's status does not allow the operation (canceling a finished job...)."""
