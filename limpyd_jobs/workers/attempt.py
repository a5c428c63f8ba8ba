"""An attempt: one job a worker took, as the worker knows it without asking Redis again."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from ..models import Job, Queue
from ..protocol import STATUSES


@dataclass
class Attempt:
    """What a take told the worker about a job; the context every write of its end receives.

    ``token`` is the attempt token the take gave the job: only this attempt may write the job's
    end. A job that was not WAITING when taken has no token (it is skipped or delayed, not run).
    """

    ident: str
    identifier: str
    status: str  # when taken: RUNNING since, if it was WAITING
    token: str
    taken_at: datetime
    timeout: float | None
    waiting_key: str  # the waiting list it came from
    queue_pk: str
    queue_name: str
    queue_priority: int
    #: The job's fields as the take left them: its instance reads them without a round trip.
    snapshot: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: The objects of the worker that took it (not handed to a pre-forked child: rebuilt there).
    job: Job | None = field(default=None, repr=False, compare=False)
    queue: Queue | None = field(default=None, repr=False, compare=False)

    @property
    def runs(self) -> bool:
        """Whether the job is to run: it was WAITING when taken, and is RUNNING under this attempt."""
        return self.status == STATUSES.WAITING

    @property
    def tries(self) -> int | None:
        """Which attempt of the job this is (its token ends with it), None without a token."""
        number = self.token.rpartition(":")[2]
        return int(number) if number.isdigit() else None

    def to_dict(self) -> dict[str, Any]:
        """The attempt as plain data (for a pre-forked child), without its objects."""
        data = {field.name: getattr(self, field.name) for field in fields(self) if field.name not in _OBJECTS}
        data["taken_at"] = self.taken_at.timestamp()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        return cls(**{**data, "taken_at": datetime.fromtimestamp(data["taken_at"], timezone.utc)})


_OBJECTS = ("job", "queue")
