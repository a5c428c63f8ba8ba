"""A small application to show limpyd_jobs.testing: signing up queues a welcome email."""

from limpyd_jobs import Job

#: Stands for the mail server: the addresses welcomed, in order.
OUTBOX: list[str] = []


class WelcomeEmail(Job):
    namespace = "signup"
    queue_name = "emails"

    def run(self, queue):
        address = self.identifier.hget()
        if "@" not in address:
            raise ValueError(f"{address!r} is not an email address")
        OUTBOX.append(address)


def sign_up(address: str) -> None:
    """Create the account (not shown), then queue its welcome email."""
    WelcomeEmail.add_job(identifier=address)
