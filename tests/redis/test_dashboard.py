"""The web dashboard (limpyd_jobs.dashboard) through Flask's test client: every page on real data
left by real workers, the actions through the operations API, CSRF, read-only mode, credentials,
bad input (404, 400), an unreachable Redis (503, then recovery), escaping, mounting under a prefix,
and the command."""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import tomllib
from helpers import DAILY, HOSTILE_MESSAGE, ROOT, SCRIPT, Data, failing_callback, fill

pytest.importorskip("flask")

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from markupsafe import escape  # noqa: E402
from werkzeug.middleware.dispatcher import DispatcherMiddleware  # noqa: E402
from werkzeug.wrappers import Response as WerkzeugResponse  # noqa: E402

from limpyd_jobs import STATUSES, Job, Worker, pending, recurring  # noqa: E402
from limpyd_jobs import operations as ops  # noqa: E402
from limpyd_jobs.dashboard import create_app  # noqa: E402
from limpyd_jobs.dashboard.reading import throughput  # noqa: E402
from limpyd_jobs.protocol import KEYS  # noqa: E402
from limpyd_jobs.testing.server import RedisServer, free_port  # noqa: E402


@pytest.fixture
def data() -> Iterator[Data]:
    made = fill()
    yield made
    made.busy.release()


@pytest.fixture
def app() -> Flask:
    return create_app(secret_key="tests", page_size=20)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def csrf(client: FlaskClient, url: str = "/queue?name=images") -> str:
    """The CSRF token of the client's session, read in a form of a page as a browser would."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get(url)))
    assert found, f"no form on {url}"
    return found.group(1)


def escaped(value: str) -> str:
    """A value as the templates write it (Jinja's autoescaping: markupsafe)."""
    return str(escape(value))


def counts_in(page: str) -> dict[tuple[str, str], int]:
    """(queue, state) -> the count a page shows."""
    return {(html.unescape(queue), state): int(value) for queue, state, value in
            re.findall(r'data-queue="([^"]+)" data-count="(\w+)">(\d+)<', page)}


# --- declared


def test_the_command_the_extra_and_the_templates_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["limpyd-jobs-dashboard"] == "limpyd_jobs.dashboard.cli:run"
    extras = project["project"]["optional-dependencies"]
    assert any(requirement.startswith("Flask") for requirement in extras["dashboard"])
    assert {"Flask", "selenium"} <= {re.split(r"[<>=]", requirement)[0] for requirement in extras["test"]}
    data = project["tool"]["setuptools"]["package-data"]["limpyd_jobs"]
    assert {"dashboard/templates/*.html", "dashboard/static/*"} <= set(data)
    package = ROOT / "limpyd_jobs" / "dashboard"
    assert {"base.html", "overview.html", "queue.html", "job.html", "workers.html", "schedules.html",
            "pending.html", "error.html"} <= {path.name for path in (package / "templates").glob("*.html")}
    assert {"dashboard.js", "dashboard.css"} <= {path.name for path in (package / "static").iterdir()}


# --- pages on real data


def test_the_overview_shows_counts_workers_with_their_job_failures_and_throughput(client, data):
    response = client.get("/")
    page = text(response)
    assert response.status_code == 200
    expected = {(queue.name, state): getattr(queue, state) for queue in ops.all_counts()
                for state in ("waiting", "delayed", "running", "success", "error")}
    assert counts_in(page) == expected
    assert (expected[("images", "success")], expected[("images", "error")], expected[("images", "waiting")],
            expected[("images", "delayed")], expected[("reports", "running")]) == (3, 2, 1, 1, 1)
    assert re.search(r'data-queue="emails" data-paused>paused<', page)  # shown: not hidden
    # the live worker, and the job it runs
    assert data.busy.worker.id in page and "render:yearly" in page
    assert f'href="/jobs/{data.busy.job.ident}"' in page
    # the recent failures, with their error
    assert f'href="/jobs/{data.bad.ident}"' in page and "cannot read photo:bad" in page
    # the sparkline: the 3 successes of the last hour
    assert re.search(r"<strong data-throughput-total>3</strong>", page)
    assert 'data-counts-url="/api/counts"' in page


def test_the_counts_endpoint_gives_what_the_operations_count(client, data):
    response = client.get("/api/counts")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert body["queues"] == [queue.as_dict() for queue in ops.all_counts()]
    assert body["totals"] == {"waiting": 2, "delayed": 1, "running": 1, "success": 3, "error": 2}
    assert body["workers_alive"] == 1 and body["throughput"]["total"] == 3
    assert len(body["throughput"]["buckets"]) == 30
    one = client.get("/api/counts?queue=images").get_json()
    assert one == {"queues": [ops.counts("images").as_dict()]}
    missing = client.get("/api/counts?queue=nope")
    assert missing.status_code == 404 and missing.get_json()["error"] == "no queue named 'nope'"


def test_a_queue_page_lists_its_jobs_by_state_with_their_actions(client, data):
    pages = {state: text(client.get(f"/queue?name=images&state={state}")) for state in ops.STATES}
    assert data.waiting.ident in pages["waiting"] and data.delayed.ident not in pages["waiting"]
    assert data.delayed.ident in pages["delayed"]
    assert {job.ident for job in data.succeeded} == set(re.findall(r'data-ident="([^"]+)"', pages["success"]))
    assert set(re.findall(r'data-ident="([^"]+)"', pages["error"])) == {data.bad.ident, data.script.ident}
    assert pages["canceled"].count('data-ident="') == 0 and "No canceled job" in pages["canceled"]
    # its actions: requeue on failures, cancel on jobs waiting
    assert 'data-action="requeue"' in pages["error"] and 'data-action="cancel"' not in pages["error"]
    assert 'data-action="cancel"' in pages["waiting"] and 'data-action="requeue"' not in pages["waiting"]
    assert 'data-action="requeue-failed"' in pages["waiting"] and 'data-action="empty"' in pages["waiting"]
    assert 'data-action="pause"' in pages["waiting"]
    # its counts, refreshed from the endpoint of this queue
    assert counts_in(pages["waiting"])[("images", "error")] == 2
    assert 'data-counts-url="/api/counts?queue=images"' in pages["waiting"]
    running = text(client.get("/queue?name=reports&state=running"))
    assert data.busy.job.ident in running and data.busy.worker.id in running
    paused = text(client.get("/queue?name=emails"))
    assert 'data-action="resume"' in paused and 'data-action="pause"' not in paused


def test_a_queue_page_is_paged_and_filtered_by_identifier(make_worker):
    client = create_app(secret_key="tests", page_size=2).test_client()
    jobs = [Job.add_job(identifier=f"item:{number}", queue_name="q") for number in range(5)]

    def listed(url: str) -> list[str]:
        return re.findall(r'data-ident="([^"]+)"', text(client.get(url)))

    assert listed("/queue?name=q") == [jobs[0].ident, jobs[1].ident]
    assert listed("/queue?name=q&page=2") == [jobs[2].ident, jobs[3].ident]
    last = text(client.get("/queue?name=q&page=3"))
    assert re.findall(r'data-ident="([^"]+)"', last) == [jobs[4].ident]
    assert "Page 3 of 3" in last and 'rel="prev" href="/queue?name=q&amp;state=waiting&amp;page=2"' in last
    assert 'rel="next"' not in last
    assert 'rel="next" href="/queue?name=q&amp;state=waiting&amp;page=2"' in text(client.get("/queue?name=q"))
    assert listed("/queue?name=q&page=4") == []
    assert listed("/queue?name=q&identifier=item:3") == [jobs[3].ident]
    assert listed("/queue?name=q&identifier=item:9") == []
    assert "No job of this identifier" in text(client.get("/queue?name=q&identifier=item:9"))


def test_a_job_page_shows_its_fields_whole_history_and_every_error_with_its_traceback(client, data):
    data.bad.requeue("images")  # a second run, that fails too: two errors, a longer history
    Worker("images", callback=failing_callback, burst=True, timeout=0.05, terminate_gracefuly=False).run()
    response = client.get(f"/jobs/{data.bad.ident}")
    page = text(response)
    assert response.status_code == 200
    assert "<h1>Job <span" in page and "photo:bad" in page and ">ERROR<" in page
    for name, value in ops.find_job(data.bad.ident).fields.items():
        assert f"<th>{name}</th>" in page and escaped(value) in page
    events = [event["event"] for event in data.bad.events()]
    assert events[:3] == ["added", "started", "failed"] and events.count("failed") == 2
    assert re.findall(r'<tr class="event-(\w+)">', page) == events
    errors = ops.job_errors(data.bad)
    assert len(errors) == 2 and "Errors (2)" in page
    assert page.count('<pre class="traceback">') == 2
    for error in errors:
        assert escaped(error.fields["traceback"]) in page
    assert "Traceback (most recent call last)" in page and "ValueError: cannot read photo:bad" in page
    assert '<a href="/queue?name=images">images</a>' in page
    assert 'data-action="requeue"' in page and 'data-action="cancel"' not in page


def test_a_job_of_a_model_this_process_lacks_shows_its_history_all_the_same(client, connection):
    job = Job.add_job(identifier="elsewhere", queue_name="q")
    connection.hset(KEYS.job_models(), "elsewhere.jobs.OtherJob", Job._name)  # a model of another program
    response = client.get(f"/jobs/elsewhere.jobs.OtherJob:{job.pk.get()}")
    assert response.status_code == 200
    assert re.findall(r'<tr class="event-(\w+)">', text(response)) == ["added"]


def test_the_workers_page_lists_each_worker_its_state_and_its_job(client, data):
    page = text(client.get("/workers"))
    (state,) = ops.workers()
    assert state.id in page and state.host in page and str(state.pid) in page and ">alive<" in page
    assert f'href="/jobs/{data.busy.job.ident}">render:yearly</a> (reports)' in page
    assert f'<time datetime="{state.started.isoformat()}">' in page


def test_the_schedules_page_shows_each_schedule_its_status_and_next_run_as_utc_iso(client, data):
    response = client.get("/schedules")
    page = text(response)
    assert response.status_code == 200
    told = recurring.tell("report:daily")
    assert told["status"].startswith("TML:") and told["next_run"]
    next_run = datetime.fromtimestamp(told["next_run"], timezone.utc)
    assert (next_run.hour, next_run.minute, next_run.second) == (9, 0, 0)
    assert f'<td class="next-run"><time datetime="{next_run.isoformat()}">' in page
    assert "report:daily" in page and escaped(DAILY) in page and 'title="TML">scheduled<' in page
    assert 'data-action="unset"' in page


def test_the_pending_page_lists_the_pending_jobs_without_taking_them(client, data):
    page = text(client.get("/pending"))
    assert "feed:news" in page and "https://example.com/feed.xml" in page
    assert [job_id for job_id in pending.scheduled_jobs()] == ["feed:news"]  # still scheduled
    assert "No pending job on page 2" in text(client.get("/pending?page=2"))


def test_throughput_counts_the_successes_of_each_bucket_of_the_last_hour(clock, make_clocked_worker):
    clock.advance(60 - clock.time() % 60 + 5)  # 5 seconds into a minute
    start = clock.time()
    for number, minutes in enumerate((0, 20, 20, 67, 69)):  # jobs end then, in minutes from the start
        clock.advance(start + minutes * 60 - clock.time())
        job = Job.add_job(identifier=f"job:{number}", queue_name="q")
        make_clocked_worker("q", burst=True, callback=lambda job, queue: None).run()
        assert job.end.hget() == str(clock.now().replace(tzinfo=None))
    clock.advance(start + 70 * 60 - clock.time())  # now: they ended 70, 50, 50, 3 and 1 minute(s) ago
    spark = throughput(clock.now())
    assert spark.bucket_seconds == 120 and len(spark.buckets) == 30 and spark.total == 4
    # the last 60 minutes, the current one last, 2 minutes per bucket: minutes 20 and 67 and 69
    # from the start are the minutes 9, 56 and 58 of the window (minute 11 of the start is its first)
    expected = [0] * 30
    expected[9 // 2] += 2
    expected[56 // 2] += 1
    expected[58 // 2] += 1
    assert spark.buckets == expected


def test_throughput_is_read_from_the_per_minute_counts_in_one_round_trip(clock, make_clocked_worker,
                                                                         round_trips):
    for number in range(3):
        Job.add_job(identifier=f"job:{number}", queue_name=f"q{number}")
    make_clocked_worker("q0,q1,q2", burst=True, callback=lambda job, queue: None).run()
    with round_trips() as trips:
        spark = throughput(clock.now())
    assert spark.total == 3 and trips.commands == ["HGETALL", "HGETALL"]  # this hour and the one before


# --- bad input


def test_an_unknown_queue_or_job_is_a_404_page(client, data):
    for url, message in (("/queue?name=nope", "no queue named &#39;nope&#39;"),
                         ("/jobs/limpyd_jobs.models.Job:999999", "no job limpyd_jobs.models.Job:999999"),
                         ("/jobs/unknown.Model:1", "is not a registered Job model"),
                         ("/no/such/page", "not found on the server")):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "404 · Not" in text(response) and message in text(response), url
    csrf_token = csrf(client)
    for action, fields in (("pause", {"queue": "nope"}),
                           ("requeue", {"job": "limpyd_jobs.models.Job:999999"}),
                           ("unset", {"job_id": "nope", "confirm": "yes"}), ("nothing", {"queue": "images"})):
        response = client.post(f"/actions/{action}", data={"csrf_token": csrf_token, **fields})
        assert response.status_code == 404, action
    assert "nope" not in ops.paused()


def test_malformed_parameters_are_a_400_page(client, data):
    for url in ("/queue?name=images&page=-1", "/queue?name=images&page=0", "/queue?name=images&page=abc",
                "/queue?name=images&page=99999999999", "/queue?name=images&state=bogus", "/queue",
                "/queue?name=" + "x" * 201, "/jobs/not-an-ident", "/pending?page=-1"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "400" in text(response)
    assert "page must be a whole number" in text(client.get("/queue?name=images&page=-1"))
    assert "state must be one of waiting" in text(client.get("/queue?name=images&state=bogus"))
    response = client.post("/actions/pause", data={"csrf_token": csrf(client)})  # no queue named
    assert response.status_code == 400 and "&#39;queue&#39; is missing" in text(response)


@pytest.mark.slow
def test_an_unreachable_redis_is_a_503_page_and_the_dashboard_recovers_when_it_is_back():
    with RedisServer() as server:
        client = create_app(server.url, secret_key="tests").test_client()
        Job.add_job(identifier="one", queue_name="q")
        assert client.get("/").status_code == 200
        server.stop(keep_directory=True)
        for url in ("/", "/schedules", "/pending"):  # operations, recurring, pending (a client of its own)
            response = client.get(url)
            assert response.status_code == 503, url
            assert response.headers["Retry-After"] == "5"
            page = text(response)
            assert "Redis does not answer" in page and f"127.0.0.1:{server.port} db 0" in page
            assert "keeps running" in page
        response = client.get("/api/counts")
        assert response.status_code == 503 and "does not answer" in response.get_json()["error"]
        server.start_again()
        assert client.get("/").status_code == 200  # the data is gone (not saved), the page is back
        assert counts_in(text(client.get("/"))) == {}
    unreachable = create_app(f"redis://127.0.0.1:{free_port()}/0", secret_key="tests").test_client()
    assert unreachable.get("/").status_code == 503


# --- actions


def test_actions_go_through_the_operations_api(client, data, make_worker):
    token = csrf(client)

    def post(action: str, **fields: str) -> WerkzeugResponse:
        response = client.post(f"/actions/{action}", data={"csrf_token": token, "next": "/queue?name=images",
                                                           **fields})
        assert response.status_code == 303 and response.headers["Location"] == "/queue?name=images", action
        return response

    post("requeue", job=data.bad.ident)
    assert data.bad.status.hget() == STATUSES.WAITING and data.bad.tries.hget() == "0"
    assert "requeued in images" in text(client.get("/queue?name=images"))  # the flash message
    post("requeue", job=data.succeeded[0].ident)  # not a failed job: said, nothing done
    assert "only a failed job (ERROR) can be requeued" in text(client.get("/"))
    post("requeue-failed", queue="images")
    assert data.script.status.hget() == STATUSES.WAITING
    post("cancel", job=data.waiting.ident, confirm="yes")
    assert data.waiting.status.hget() == STATUSES.CANCELED
    post("pause", queue="images")
    assert "images" in ops.paused()
    post("resume", queue="images")
    post("resume", queue="emails")
    assert ops.paused() == set()
    post("empty", queue="images", confirm="yes")
    assert ops.counts("images").waiting == ops.counts("images").delayed == 0
    assert data.delayed.status.hget() == STATUSES.CANCELED
    post("unset", job_id="report:daily", confirm="yes")
    assert recurring.schedules() == []
    # resumed: a real worker takes the jobs of images again
    Job.add_job(identifier="photo:1", queue_name="images")
    runs: list[str] = []
    make_worker("images", burst=True, callback=lambda job, queue: runs.append(job.identifier.hget())).run()
    assert runs == ["photo:1"]


def test_requeue_from_the_dashboard_makes_a_failed_job_run_again_on_a_worker(client, data, make_worker):
    response = client.post("/actions/requeue", data={"csrf_token": csrf(client), "job": data.bad.ident,
                                                     "next": f"/jobs/{data.bad.ident}"})
    assert response.status_code == 303 and response.headers["Location"] == f"/jobs/{data.bad.ident}"
    runs: list[str] = []
    make_worker("images", burst=True, callback=lambda job, queue: runs.append(job.identifier.hget())).run()
    assert runs == ["photo:4", "photo:bad"] and data.bad.status.hget() == STATUSES.SUCCESS


def test_destructive_actions_ask_for_a_confirmation_first(client, data):
    token = csrf(client)
    for action, fields in (("empty", {"queue": "images"}), ("cancel", {"job": data.waiting.ident}),
                           ("unset", {"job_id": "report:daily"})):
        response = client.post(f"/actions/{action}", data={"csrf_token": token, "next": "/", **fields})
        page = text(response)
        assert response.status_code == 200 and "<h1>Confirm</h1>" in page, action
        assert '<input type="hidden" name="confirm" value="yes">' in page
        assert f'action="/actions/{action}"' in page
    assert ops.counts("images").waiting == 1 and data.waiting.status.hget() == STATUSES.WAITING
    assert recurring.schedules() == [("report:daily", DAILY)]
    # the pages ask with a JS confirm() too: the form says what, the script sets confirm=yes
    page = text(client.get("/queue?name=images"))
    assert re.search(r'data-confirm="Empty queue images\?[^"]*"', page)
    assert re.search(r'data-confirm="Cancel job photo:4\?"', page)


def test_a_post_without_the_session_csrf_token_is_refused(client, data):
    for fields in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
        response = client.post("/actions/pause", data={"queue": "images", **fields})
        assert response.status_code == 400 and "CSRF token is missing or wrong" in text(response)
    other = create_app(secret_key="tests").test_client()  # another session's token
    response = client.post("/actions/pause", data={"queue": "images", "csrf_token": csrf(other)})
    assert response.status_code == 400
    response = client.post("/actions/cancel", data={"job": data.waiting.ident, "confirm": "yes"})
    assert response.status_code == 400
    assert "images" not in ops.paused() and data.waiting.status.hget() == STATUSES.WAITING


def test_read_only_hides_every_action_and_refuses_them(data, monkeypatch):
    monkeypatch.setenv("LIMPYD_JOBS_DASHBOARD_READ_ONLY", "true")
    client = create_app(secret_key="tests").test_client()
    for url in ("/", "/queue?name=images&state=error", "/queue?name=images", f"/jobs/{data.bad.ident}",
                "/schedules", "/workers"):
        page = text(client.get(url))
        assert "read-only" in page, url
        assert 'data-action="' not in page and '<form class="action"' not in page, url
    with client.session_transaction() as session:
        session["csrf"] = "known"
    for action, fields in (("pause", {"queue": "images"}), ("requeue", {"job": data.bad.ident}),
                           ("empty", {"queue": "images", "confirm": "yes"}),
                           ("unset", {"job_id": "report:daily", "confirm": "yes"})):
        response = client.post(f"/actions/{action}", data={"csrf_token": "known", **fields})
        assert response.status_code == 403 and "read-only" in text(response), action
    assert ops.paused() == {"emails"} and data.bad.status.hget() == STATUSES.ERROR
    assert ops.counts("images").waiting == 1 and recurring.schedules() == [("report:daily", DAILY)]
    assert create_app(secret_key="tests", read_only=False).config["LIMPYD_JOBS_DASHBOARD"].read_only is False


def test_a_token_is_required_when_one_is_set(data, monkeypatch):
    monkeypatch.setenv("LIMPYD_JOBS_DASHBOARD_TOKEN", "s3cret-token")
    client = create_app(secret_key="tests").test_client()
    response = client.get("/queue?name=images")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/queue?name%3Dimages"
    api = client.get("/api/counts")
    assert api.status_code == 401 and api.get_json()["error"] == "credentials required"
    assert client.get("/api/counts", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/counts", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert client.post("/actions/pause", data={"queue": "images"}).status_code == 303  # to the login
    assert "images" not in ops.paused()
    login = text(client.get("/login?next=/workers"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    wrong = client.post("/login", data={"csrf_token": token, "token": "guess", "next": "/workers"})
    assert wrong.status_code == 401 and "Wrong token" in text(wrong)
    right = client.post("/login", data={"csrf_token": token, "token": "s3cret-token", "next": "/workers"})
    assert right.status_code == 303 and right.headers["Location"] == "/workers"
    assert client.get("/workers").status_code == 200
    # a session logged in is one of this token: with another token, it is not logged in
    cookie = client.get_cookie("limpyd_jobs_dashboard").value
    for other_token, status in (("s3cret-token", 200), ("another-token", 303)):
        other = create_app(secret_key="tests", token=other_token).test_client()
        other.set_cookie("limpyd_jobs_dashboard", cookie)
        assert other.get("/workers").status_code == status
    client.post("/logout", data={"csrf_token": csrf(client, "/workers")})
    assert client.get("/workers").status_code == 303


def test_basic_auth_is_required_when_set(data, monkeypatch):
    monkeypatch.setenv("LIMPYD_JOBS_DASHBOARD_BASIC_AUTH", "admin:pa:ss")
    client = create_app(secret_key="tests").test_client()
    response = client.get("/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="limpyd-jobs dashboard"')
    assert client.get("/", auth=("admin", "wrong")).status_code == 401
    assert client.get("/", auth=("root", "pa:ss")).status_code == 401
    assert client.get("/", auth=("admin", "pa:ss")).status_code == 200
    assert client.get("/static/dashboard.css").status_code == 200  # the assets are public
    with pytest.raises(ValueError, match="USER:PASSWORD"):
        create_app(basic_auth="no-colon")


# --- escaping and headers


def test_identifiers_messages_and_tracebacks_from_redis_are_escaped(client, data):
    script = escaped(SCRIPT)
    (error,) = ops.job_errors(data.script)
    assert HOSTILE_MESSAGE in error.fields["traceback"]
    for url, message in (("/", True), ("/queue?name=images&state=error", True),
                         (f"/jobs/{data.script.ident}", True),
                         (f"/queue?name=images&identifier={urllib.parse.quote(SCRIPT)}", False)):
        page = text(client.get(url))
        assert script in page, url
        assert SCRIPT not in page and HOSTILE_MESSAGE not in page, url
        assert (escaped(HOSTILE_MESSAGE) in page) is message, url
        # the only script of a page is the dashboard's own file: none inline
        assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/dashboard.js" defer>'], url
    response = client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_actions_send_the_browser_back_to_this_site_only(client, data):
    token = csrf(client)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = client.post("/actions/pause",
                               data={"csrf_token": token, "queue": "images", "next": target})
        assert response.status_code == 303 and response.headers["Location"] == "/", target


# --- mounting and the command


def test_the_dashboard_mounts_under_a_prefix_in_another_site(data):
    site = Flask("site")

    @site.get("/")
    def home() -> str:
        return "the site"

    site.wsgi_app = DispatcherMiddleware(site.wsgi_app, {"/ops/jobs": create_app(secret_key="tests")})
    client = site.test_client()
    assert text(client.get("/")) == "the site"
    page = text(client.get("/ops/jobs/"))
    assert 'href="/ops/jobs/queue?name=images"' in page
    assert 'src="/ops/jobs/static/dashboard.js"' in page and 'data-counts-url="/ops/jobs/api/counts"' in page
    assert client.get("/ops/jobs/static/dashboard.js").status_code == 200
    token = csrf(client, "/ops/jobs/queue?name=images")
    response = client.post("/ops/jobs/actions/pause", data={"csrf_token": token, "queue": "images",
                                                            "next": "/queue?name=images"})
    assert response.status_code == 303 and response.headers["Location"] == "/ops/jobs/queue?name=images"
    assert "images" in ops.paused()


@pytest.mark.slow
def test_the_command_serves_the_dashboard_and_says_what_it_cannot_use(redis_server, data):
    command = [sys.executable, "-m", "limpyd_jobs.dashboard.cli"]
    port = free_port()
    process = subprocess.Popen([*command, "--port", str(port), "--database", redis_server.url, "--read-only"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        while "dashboard" not in line:  # its start line says it listens
            line = process.stdout.readline()
            assert line, "the command ended before serving"
        assert f"http://127.0.0.1:{port}/" in line and "read-only" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/queue?name=images", timeout=10) as response:
            assert response.status == 200 and "photo:4" in response.read().decode()
    finally:
        process.send_signal(signal.SIGTERM)  # as a supervisor stops it: it ends, 0
        assert process.wait(30) == 0
    help_text = subprocess.run([*command, "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0
    for option in ("--host", "--port", "--database", "--token", "--basic-auth", "--read-only"):
        assert option in help_text.stdout
    bad = subprocess.run([*command, "--basic-auth", "no-colon", "--database", redis_server.url],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith("limpyd-jobs-dashboard: error: argument --basic-auth")
    for name, value, message in (("PORT", "http", "argument --port: 'http'"),
                                 ("READ_ONLY", "maybe", "READ_ONLY must be true or false"),
                                 ("LOG_LEVEL", "loud", "argument --log-level")):
        wrong = subprocess.run([*command, "--database", redis_server.url], capture_output=True, text=True,
                               env={**os.environ, f"LIMPYD_JOBS_DASHBOARD_{name}": value})
        assert wrong.returncode == 2 and message in wrong.stderr, name
    down = subprocess.run([*command, "--database", f"redis://127.0.0.1:{free_port()}/0"],
                          capture_output=True, text=True)
    assert down.returncode == 3 and "cannot connect to Redis" in down.stderr
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_without_flask_the_command_says_how_to_install_the_extra(monkeypatch, capsys):
    from limpyd_jobs.dashboard import cli

    monkeypatch.setitem(sys.modules, "flask", None)  # as if not installed
    for name in ("limpyd_jobs.dashboard.app", "limpyd_jobs.dashboard.security"):
        monkeypatch.delitem(sys.modules, name)
    assert cli.main(["--port", "0"]) == 2
    assert capsys.readouterr().err.startswith(
        "limpyd-jobs-dashboard: error: the dashboard needs Flask: pip install 'limpyd-jobs[dashboard]'")


# --- first hour: what a page says is what a person reads


def test_a_queues_error_tab_shows_each_jobs_last_error_and_links_by_identifier(client, data):
    page = text(client.get("/queue?name=images&state=error"))
    row = re.search(rf'<tr data-ident="{re.escape(data.bad.ident)}">(.*?)</tr>', page, re.S).group(1)
    assert f'<a href="/jobs/{data.bad.ident}">photo:bad</a>' in row
    assert '<td class="message">ValueError: cannot read photo:bad</td>' in row


def test_a_job_never_tried_shows_zero_tries(client, data):
    page = text(client.get("/queue?name=images&state=waiting"))
    row = re.search(rf'<tr data-ident="{re.escape(data.waiting.ident)}">(.*?)</tr>', page, re.S).group(1)
    assert data.waiting.tries.hget() in (None, "", "0")
    assert re.findall(r'<td class="number">([^<]*)</td>', row)[1] == "0"  # priority, then tries


def test_statuses_read_as_words_and_errors_newest_first(client, data):
    job = Job.add_job(identifier="photo:twice", queue_name="again")
    tries = iter(("first", "second"))

    def callback(job, queue):
        raise ValueError(f"{next(tries)} failure")

    Worker("again", callback=callback, requeue_times=1, requeue_delay_delta=0, burst=True, timeout=0.05,
           terminate_gracefuly=False).run()
    page = text(client.get(f"/jobs/{job.ident}"))
    assert "<tr><th>status</th><td>ERROR</td></tr>" in page
    assert f">{STATUSES.ERROR}<" not in page
    errors = page[page.index("<h2>Errors"):]
    assert errors.index("second failure") < errors.index("first failure")
