"""The module dramatiq's CLI imports (``dramatiq dramatiq_jobs``): its broker and the actor.

The Redis port comes from BENCH_REDIS_PORT, set by dramatiq_driver.py. The broker has dramatiq's
default middleware (Prometheus included, as dramatiq installs it).
"""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(host="127.0.0.1", port=int(os.environ["BENCH_REDIS_PORT"]))
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench")
def read_identifier(identifier):
    """The benchmarked job: reads what it works on (its argument, in the message)."""
    len(identifier)


@dramatiq.actor(queue_name="bench")
def wait_sync(identifier):
    """The I/O-bound job of io_bound.py: waits 50 ms (dramatiq runs actors in threads)."""
    import time

    time.sleep(0.05)
