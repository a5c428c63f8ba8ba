"""What processing a job costs Redis: the commands of the script that ends a job and takes the
next one (each a key of the limpyd layout, the history or the metrics that documents read)."""

from __future__ import annotations

from limpyd_jobs import STATUSES, Job
from limpyd_jobs.protocol import KEYS

# the end: its status and token, its move in the status index, the hash, the success list, the
# metrics (its duration's bucket, which counts it as succeeded, and the sum of durations), the
# throughput of its minute, the queued index and field, the running set; then the take: the
# waiting list, the running set, the hash read and written, its move in the status index, the
# started count, the first delayed job's due time. No history: the fields tell the attempt's
# start and success (history.py).
ENDED_AND_TAKEN = ["HMGET", "SMOVE", "HSET", "RPUSH", "HINCRBY", "HINCRBY", "HINCRBY",
                   "SREM", "HDEL", "ZREM",
                   "LPOP", "ZADD", "HGETALL", "HSET", "SMOVE", "HINCRBY", "ZRANGE"]

def script_commands(redis_server, action):
    """The commands the scripts ran while ``action()`` ran, in order (MONITOR's lua client), and
    the commands clients sent."""
    sentinel = "process-cost-end"
    client = redis_server.client(decode_responses=True)
    echo = client.connection_pool.get_connection()  # connected before: its handshake is not counted
    echo.connect()
    own = str(echo._sock.getsockname()[1])
    scripts, sent = [], []
    with client.monitor() as monitor:
        action()
        echo.send_command("ECHO", sentinel)
        echo.read_response()
        for command in monitor.listen():
            if command["command"] == f"ECHO {sentinel}":
                break
            name = command["command"].split(" ", 1)[0].upper()
            if command["client_type"] == "lua":
                scripts.append(name)
            elif command["client_port"] != own:
                sent.append(name)
    client.connection_pool.release(echo)
    client.close()
    return scripts, sent


def test_a_processed_job_costs_one_script_of_17_commands(redis_server, make_worker, clock):
    for number in range(4):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    worker = make_worker("q", callback=lambda job, queue: len(job.identifier.hget()))
    worker.update_keys()
    worker.run_one()  # the first pass: the maintenance, a plain take, the scripts loaded
    clock.advance(0.5)  # the same minute: its throughput count has its TTL already
    scripts, sent = script_commands(redis_server, worker.run_one)
    assert sent == ["EVALSHA"], sent
    assert scripts == ENDED_AND_TAKEN


def test_a_job_missing_from_its_status_index_is_indexed_by_its_moves(make_worker, connection):
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(2)]
    for job in jobs:  # as if its index had drifted: a move of one command would leave it out
        connection.srem(KEYS.index(model=Job._name, field="status", value=STATUSES.WAITING), job.pk.get())
    seen = []

    def look(job, queue):
        seen.append(set(Job.collection(status=STATUSES.RUNNING)))
        connection.srem(KEYS.index(model=Job._name, field="status", value=STATUSES.RUNNING), job.pk.get())

    make_worker("q", callback=look, max_loops=2).run()
    assert seen == [{jobs[0].pk.get()}, {jobs[1].pk.get()}]
    assert set(Job.collection(status=STATUSES.SUCCESS)) == {job.pk.get() for job in jobs}
    assert not Job.collection(status=STATUSES.WAITING) and not Job.collection(status=STATUSES.RUNNING)
