"""The dashboard under hostile requests and at scale: the Host allowlist (DNS rebinding), bounded
lookups, pages that cost what they show, sessions revoked at logout and of a limited lifetime,
backoff after failed logins, nothing of the deployment before a login, a hung Redis, and reads
that write nothing."""

from __future__ import annotations

import logging
import os
import re
import signal
import time
import tracemalloc
from typing import Any

import pytest

pytest.importorskip("flask")

from flask.testing import FlaskClient  # noqa: E402

from limpyd_jobs import Job, Queue, Worker, pending, recurring
from limpyd_jobs import operations as ops
from limpyd_jobs.constants import __version__
from limpyd_jobs.dashboard import create_app
from limpyd_jobs.dashboard.security import FREE_ATTEMPTS, allowed_hosts
from limpyd_jobs.exceptions import ConfigurationException
from limpyd_jobs.testing.server import RedisServer

COOKIE = "limpyd_jobs_dashboard"


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def csrf(client: FlaskClient, url: str = "/", **options: Any) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get(url, **options)))
    assert found, f"no form on {url}"
    return found.group(1)


def some_jobs() -> Job:
    """images: a success, a failure, one waiting, one delayed; a schedule and a pending job."""
    def callback(job: Job, queue: Queue) -> None:
        if job.identifier.hget() == "photo:bad":
            raise ValueError("cannot read photo:bad")

    Job.add_job(identifier="photo:1", queue_name="images")
    bad = Job.add_job(identifier="photo:bad", queue_name="images")
    Worker("images", callback=callback, burst=True, timeout=0.05, terminate_gracefuly=False).run()
    Job.add_job(identifier="photo:2", queue_name="images")
    Job.add_job(identifier="photo:3", queue_name="images", delayed_for=600)
    recurring.set_schedule("report:daily", "RRULE:FREQ=DAILY")
    pending.schedule_job("feed:news", 3600, url="https://example.com/feed.xml")
    return bad


# --- the Host allowlist


def test_a_request_for_another_host_name_is_refused_so_dns_rebinding_reaches_nothing(connection):
    Job.add_job(identifier="photo:1", queue_name="images")
    client = create_app(secret_key="tests").test_client()
    token = csrf(client, "/queue?name=images")
    for host in ("rebind.attacker.example", "rebind.attacker.example:9181", "localhost.attacker.example"):
        page = client.get("/queue?name=images", headers={"Host": host})
        assert page.status_code == 400 and token not in text(page), host
        post = client.post("/actions/pause", data={"queue": "images", "csrf_token": token},
                           headers={"Host": host})
        assert post.status_code == 400
        assert client.get("/static/dashboard.js", headers={"Host": host}).status_code == 400
    assert ops.paused() == set()
    for host in ("localhost", "localhost:9181", "127.0.0.1:9181", "[::1]:9181", "LOCALHOST"):
        assert client.get("/", headers={"Host": host}).status_code == 200, host
    anyone = create_app(secret_key="tests", allowed_hosts="*").test_client()
    assert anyone.get("/", headers={"Host": "jobs.example.com"}).status_code == 200
    named = create_app(secret_key="tests", allowed_hosts="jobs.example.com").test_client()
    assert named.get("/", headers={"Host": "jobs.example.com:443"}).status_code == 200
    assert named.get("/", headers={"Host": "localhost"}).status_code == 400
    assert allowed_hosts(None, "10.0.0.5") == frozenset({"localhost", "127.0.0.1", "::1", "10.0.0.5"})


def test_no_redirect_is_built_from_the_host_header(connection):
    client = create_app(secret_key="tests", allowed_hosts="*").test_client()
    for path in ("//queue?name=images", "/workers/", "//", "/login?next=//evil.example"):
        response = client.get(path, headers={"Host": "evil.example"})
        assert "evil.example" not in response.headers.get("Location", ""), path


# --- bounded lookups, pages that cost what they show


def test_a_queue_page_with_65000_slashes_answers_400_at_once_in_flat_memory(connection):
    Job.add_job(identifier="photo:1", queue_name="images")
    client = create_app(secret_key="tests").test_client()
    tracemalloc.start()
    try:
        response = client.get("/queue?name=images&identifier=" + "/" * 65_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 400 and "at most" in text(response)
    assert peak < 5_000_000  # a few copies of the 65 kB request at most, not one per '/'


@pytest.mark.slow
def test_the_overview_of_100_queues_of_10000_finished_jobs_costs_commands_per_queue(connection, round_trips):
    model = Job.get_model_repr()
    for number in range(100):
        key = Queue.get_queue(f"q{number:03d}").success.key
        with connection.pipeline(transaction=False) as pipe:
            for start in range(0, 10_000, 5000):
                pipe.rpush(key, *(f"{model}:{pk}" for pk in range(start, start + 5000)))
            pipe.execute()
    client = create_app(secret_key="tests").test_client()
    for url in ("/", "/api/counts"):
        with round_trips() as trips:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        assert response.status_code == 200
        assert trips.count <= 6 * 100 + 20, (url, trips.count)  # not 10,000 per queue
        logging.getLogger(__name__).info("%s on 100 x 10,000 finished jobs: %.0f ms, %d commands", url,
                                         elapsed * 1000, trips.count)
    assert client.get("/api/counts").get_json()["totals"]["success"] == 1_000_000
    with round_trips() as trips:
        assert client.get("/queue?name=q042&state=success&page=3").status_code == 200
    assert trips.count < 80, trips.count  # its page, not its 10,000 entries


# --- sessions and credentials


def login(client: FlaskClient, token: str) -> Any:
    form = csrf(client, "/login")
    return client.post("/login", data={"csrf_token": form, "token": token, "next": "/workers"})


def test_a_cookie_saved_before_logout_no_longer_opens_anything(connection):
    Job.add_job(identifier="photo:1", queue_name="images")
    app = create_app(secret_key="tests", token="s3cret")
    client = app.test_client()
    assert login(client, "s3cret").status_code == 303
    saved = client.get_cookie(COOKIE).value
    form = csrf(client, "/queue?name=images")
    client.post("/logout", data={"csrf_token": form})
    thief = app.test_client()
    thief.set_cookie(COOKIE, saved)
    assert thief.get("/workers").status_code == 303  # to the login
    assert thief.get("/api/counts").status_code == 401
    assert thief.post("/actions/pause", data={"queue": "images", "csrf_token": form}).status_code == 303
    assert ops.paused() == set()
    assert login(client, "s3cret").status_code == 303 and client.get("/workers").status_code == 200


def test_a_session_ends_after_its_lifetime(connection, clock):
    client = create_app(secret_key="tests", token="s3cret", session_lifetime=3600).test_client()
    login(client, "s3cret")
    clock.advance(3599)
    assert client.get("/workers").status_code == 200
    clock.advance(2)
    assert client.get("/workers").status_code == 303
    with pytest.raises(ConfigurationException, match="session_lifetime"):
        create_app(token="s3cret", session_lifetime=0)


def test_failed_logins_back_off_then_the_right_token_opens_again(connection, clock):
    client = create_app(secret_key="tests", token="s3cret").test_client()
    for _ in range(FREE_ATTEMPTS):
        assert login(client, "guess").status_code == 401
    refused = login(client, "s3cret")  # even the right one must wait
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    clock.advance(1)
    assert login(client, "guess").status_code == 401
    assert login(client, "s3cret").headers["Retry-After"] == "2"  # twice as long each time
    clock.advance(2)
    assert login(client, "s3cret").status_code == 303
    assert login(client, "guess").status_code == 401  # a success starts the count again


def test_wrong_bearer_tokens_and_passwords_back_off_too(connection, clock):
    client = create_app(secret_key="tests", token="s3cret").test_client()
    for _ in range(FREE_ATTEMPTS):
        assert client.get("/api/counts", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.get("/api/counts", headers={"Authorization": "Bearer s3cret"}).status_code == 429
    basic = create_app(secret_key="tests", basic_auth="admin:pass").test_client()
    for _ in range(FREE_ATTEMPTS):
        assert basic.get("/", auth=("admin", "guess")).status_code == 401
    assert basic.get("/", auth=("admin", "pass")).status_code == 429
    clock.advance(1)
    assert basic.get("/", auth=("admin", "pass")).status_code == 200


def test_pages_served_before_a_login_say_nothing_of_the_deployment(redis_server, connection):
    where = f"127.0.0.1:{redis_server.port}"
    client = create_app(secret_key="tests", token="s3cret").test_client()
    for response in (client.get("/login"), login(client, "guess")):
        page = text(response)
        assert where not in page and __version__ not in page
    basic = create_app(secret_key="tests", basic_auth="admin:pass").test_client()
    page = text(basic.get("/"))
    assert where not in page and __version__ not in page
    assert where in text(basic.get("/", auth=("admin", "pass")))  # once logged in: shown


# --- a hung Redis


@pytest.mark.slow
def test_a_hung_redis_is_a_503_within_3_seconds(connection):
    with RedisServer() as server:
        client = create_app(server.url, secret_key="tests", redis_timeout=1.0).test_client()
        assert client.get("/").status_code == 200
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            for url in ("/", "/api/counts", "/schedules", "/pending"):
                started = time.monotonic()
                response = client.get(url)
                assert response.status_code == 503 and time.monotonic() - started <= 3, url
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert client.get("/").status_code == 200


# --- reads write nothing


def test_no_page_writes_anything_to_redis(connection, round_trips):
    bad = some_jobs()
    client = create_app(secret_key="tests").test_client()
    urls = ["/", "/api/counts", "/api/counts?queue=images", "/workers", "/schedules", "/pending",
            f"/jobs/{bad.ident}", "/queue?name=images&identifier=photo:bad", "/login"]
    urls += [f"/queue?name=images&state={state}" for state in ops.STATES]
    with round_trips() as trips:
        for url in urls:
            assert client.get(url).status_code in (200, 303), url
    sent = {name.lower() for name in trips.commands}
    assert {"llen", "hgetall", "lrange", "smembers", "sinter"} <= sent  # it did read
    flags = connection.execute_command("COMMAND", "INFO", *sent)
    writes = [name for name in sent if "write" in flags[name]["flags"]]
    assert writes == [] and not sent & {"eval", "evalsha", "script", "fcall"}, sent
