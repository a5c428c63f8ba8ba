"""The dashboard's Flask application: its pages, the JSON counts the pages refresh from, the
actions (POST, CSRF-checked, through ``limpyd_jobs.operations``) and the error pages."""

from __future__ import annotations

import logging
import math
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from .. import operations, recurring
from ..connection import describe
from ..constants import __version__
from ..databases import use_database
from ..exceptions import ConfigurationException, InvalidIdent, InvalidType, InvalidValue
from ..models import Error, Queue
from ..outages import is_outage
from ..protocol import STATUSES
from ..utils import to_utc
from ..validation import clean_identifier
from . import reading, security
from .security import (
    AUTH_KEY,
    Backoff,
    Credentials,
    Sessions,
    csrf_token,
    csrf_valid,
    host_name,
    local_path,
    parse_basic_auth,
)

logger = logging.getLogger(reading.logger.name)

TOKEN_VARIABLE = "LIMPYD_JOBS_DASHBOARD_TOKEN"
BASIC_AUTH_VARIABLE = "LIMPYD_JOBS_DASHBOARD_BASIC_AUTH"
READ_ONLY_VARIABLE = "LIMPYD_JOBS_DASHBOARD_READ_ONLY"
SECRET_KEY_VARIABLE = "LIMPYD_JOBS_DASHBOARD_SECRET_KEY"
ALLOWED_HOSTS_VARIABLE = "LIMPYD_JOBS_DASHBOARD_ALLOWED_HOSTS"
SESSION_LIFETIME_VARIABLE = "LIMPYD_JOBS_DASHBOARD_SESSION_LIFETIME"
#: How long a login lasts by default, in seconds: a working day.
SESSION_LIFETIME = 8 * 3600.0
#: The session cookie: a name of its own, so that a site the dashboard is mounted in keeps its own.
COOKIE_NAME = "limpyd_jobs_dashboard"
#: Pages a page number may go to at most.
MAX_PAGE = 1_000_000
#: Statuses of a job that may be canceled, and requeued.
CANCELABLE = (STATUSES.WAITING, STATUSES.DELAYED, STATUSES.RUNNING)
DATE_FIELDS = ("added", "start", "end", "delayed_until")
#: Every header of every answer: no script, style or frame from elsewhere, none inline.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class Action:
    """An action a POST to ``/actions/<name>`` does: the form field naming its target (a
    ``queue``, a ``job`` ident, a schedule's ``job_id``), and whether it must be confirmed."""

    name: str
    label: str
    target: str
    destructive: bool = False


ACTIONS = {action.name: action for action in (
    Action("requeue", "requeue the job", "job"),
    Action("cancel", "cancel the job", "job", destructive=True),
    Action("requeue-failed", "requeue every failed job of the queue", "queue"),
    Action("empty", "empty the queue (cancel every waiting and delayed job)", "queue", destructive=True),
    Action("pause", "pause the queue", "queue"),
    Action("resume", "resume the queue", "queue"),
    Action("unset", "remove the schedule", "job_id", destructive=True),
)}


@dataclass(frozen=True)
class DashboardSettings:
    """What ``create_app`` was given, as the views read it (``app.config["LIMPYD_JOBS_DASHBOARD"]``)."""

    credentials: Credentials
    read_only: bool
    refresh: float
    page_size: int
    heartbeat_timeout: float
    queue_model: type[Queue]
    error_model: type[Error]
    allowed_hosts: frozenset[str] | None
    sessions: Sessions
    backoff: Backoff


def _flag(value: str | None, name: str) -> bool:
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationException(f"{name} must be true or false, not {value!r}")


def create_app(database: str | None = None, *, token: str | None = None, basic_auth: str | None = None,
               read_only: bool | None = None, secret_key: str | None = None, refresh: float = 5.0,
               page_size: int = 20, heartbeat_timeout: float = operations.HEARTBEAT_TIMEOUT,
               queue_model: type[Queue] = Queue, error_model: type[Error] = Error,
               allowed_hosts: str | Iterable[str] | None = None, session_lifetime: float | None = None,
               redis_timeout: float | None = None) -> Flask:
    """The dashboard, a WSGI application (to serve, or to mount under a prefix in a site).

    ``database``: host:port:db or a redis URL, to point limpyd-jobs' models at (default: as they
    are: ``REDIS_URL``, or what the site set). ``token`` / ``basic_auth`` (``USER:PASS``) require
    credentials (default: ``LIMPYD_JOBS_DASHBOARD_TOKEN`` / ``..._BASIC_AUTH``); ``read_only`` hides
    and refuses every action (default: ``..._READ_ONLY``); ``secret_key`` signs the session cookie
    (default: ``..._SECRET_KEY``, else a random one: sessions end when the process does).
    ``refresh``: seconds between two refreshes of the counts on a page. ``allowed_hosts``: the
    host names it answers for (comma-separated; ``*``: any; default ``..._ALLOWED_HOSTS``, else
    this machine's names: a request for another ``Host`` gets 400, which stops DNS rebinding).
    ``session_lifetime``: seconds a login lasts (default ``..._SESSION_LIFETIME``, else 8 hours).
    ``redis_timeout``: seconds a Redis command may take before the page answers 503, set on the
    models' connection (the command sets 1; default None: left as it is, for a process that also
    runs workers, whose blocking waits need none)."""
    if database:
        use_database(database)
    if redis_timeout is not None:
        operations.use_timeouts(redis_timeout, [queue_model, error_model])
    if allowed_hosts is None:
        allowed_hosts = os.environ.get(ALLOWED_HOSTS_VARIABLE) or None
    if session_lifetime is None:
        text = os.environ.get(SESSION_LIFETIME_VARIABLE) or ""
        try:
            session_lifetime = float(text) if text else SESSION_LIFETIME
        except ValueError:
            raise ConfigurationException(f"{SESSION_LIFETIME_VARIABLE} must be a number of seconds, "
                                         f"not {text!r}") from None
    if not 0 < session_lifetime <= 366 * 86400 or not math.isfinite(session_lifetime):
        raise ConfigurationException(f"session_lifetime must be seconds above 0 (a year at most), "
                                     f"not {session_lifetime!r}")
    token = token if token is not None else os.environ.get(TOKEN_VARIABLE) or None
    basic_auth = basic_auth if basic_auth is not None else os.environ.get(BASIC_AUTH_VARIABLE) or None
    if read_only is None:
        read_only = _flag(os.environ.get(READ_ONLY_VARIABLE), READ_ONLY_VARIABLE)
    user, password = parse_basic_auth(basic_auth) if basic_auth else (None, None)
    if refresh <= 0 or not math.isfinite(refresh):
        raise ConfigurationException(f"refresh must be a positive number of seconds, not {refresh!r}")
    if page_size < 1:
        raise ConfigurationException(f"page_size must be 1 or more, not {page_size!r}")

    app = Flask(__name__)
    app.url_map.merge_slashes = False  # Werkzeug's redirects would be built from the Host header
    app.url_map.strict_slashes = False
    clock = queue_model.clock
    app.config.update(
        SECRET_KEY=secret_key or os.environ.get(SECRET_KEY_VARIABLE) or secrets.token_hex(32),
        SESSION_COOKIE_NAME=COOKIE_NAME, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=session_lifetime),
        LIMPYD_JOBS_DASHBOARD=DashboardSettings(
            credentials=Credentials(token, user, password), read_only=bool(read_only), refresh=float(refresh),
            page_size=page_size, heartbeat_timeout=heartbeat_timeout, queue_model=queue_model,
            error_model=error_model,
            allowed_hosts=security.allowed_hosts(allowed_hosts),
            sessions=Sessions(session_lifetime, lambda: clock.time()), backoff=Backoff(lambda: clock.time())))
    app.jinja_env.filters["utc"] = to_utc
    app.jinja_env.globals["csrf_token"] = csrf_token
    _register_security(app)
    _register_pages(app)
    _register_actions(app)
    _register_errors(app)
    logger.debug("dashboard created (read-only: %s, credentials required: %s)", read_only,
                 app.config["LIMPYD_JOBS_DASHBOARD"].credentials.required)
    return app


def settings() -> DashboardSettings:
    """The settings of the application handling the request."""
    return current_app.config["LIMPYD_JOBS_DASHBOARD"]


def _wants_json() -> bool:
    return request.path.startswith("/api/")


# --- security: credentials, CSRF, headers


def _register_security(app: Flask) -> None:
    @app.before_request
    def guard() -> Any:
        current = settings()
        hosts = current.allowed_hosts
        if hosts is not None and host_name(request.host) not in hosts:
            logger.warning("request for host %r refused (not in the allowed hosts)", request.host[:100])
            abort(400, "This dashboard does not answer for this host name (see --allowed-hosts).")
        credentials = current.credentials
        g.authorized = credentials.allows(request, current.sessions)
        if request.endpoint != "static" and credentials.attempted(request):
            refused = _backoff(g.authorized)
            if refused is not None:
                return refused
        if request.endpoint not in ("static", "login") and not g.authorized:
            return _unauthorized(credentials)
        if request.endpoint == "act" and settings().read_only:
            abort(403, "This dashboard is read-only: it does no action.")
        if request.method == "POST" and not csrf_valid(request.form.get("csrf_token")):
            logger.warning("POST %s refused: CSRF token missing or wrong", request.path)
            abort(400, "The form's CSRF token is missing or wrong (an old page, or another site's form): "
                       "reload the page and try again.")
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def context() -> dict[str, Any]:
        current = settings()
        shown = bool(g.get("authorized"))  # nothing of the deployment before a login
        return {"read_only": current.read_only, "refresh": current.refresh,
                "version": __version__ if shown else "",
                "where": describe(current.queue_model.database.connection_settings) if shown else "",
                "next_path": request.full_path.rstrip("?"),
                "logged_in": bool(current.credentials.token and session.get(AUTH_KEY))}

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        credentials = settings().credentials
        back = local_path(request.values.get("next")) or "/"
        if not credentials.token:
            return redirect(request.script_root + back, 303)
        if request.method == "POST":
            backoff = settings().backoff
            address = request.remote_addr or ""
            wait = backoff.wait(address)
            if wait:
                return _too_many(wait)
            if credentials.check_token(request.form.get("token", "")):
                backoff.succeeded(address)
                settings().sessions.open()  # a new session: a new id, a new CSRF token
                session[AUTH_KEY] = credentials.token_fingerprint()
                logger.info("dashboard login from %s", address)
                return redirect(request.script_root + back, 303)
            backoff.failed(address)
            logger.warning("dashboard login refused from %s: wrong token", address)
            return render_template("login.html", next=back, wrong=True), 401
        return render_template("login.html", next=back, wrong=False)

    @app.post("/logout")
    def logout() -> Any:
        settings().sessions.close()  # revoked: the cookie, kept elsewhere, no longer opens a page
        return redirect(url_for("login"), 303)


def _backoff(authorized: bool) -> Response | None:
    """429 while the address of a request with credentials must wait; its failure counted."""
    backoff = settings().backoff
    address = request.remote_addr or ""
    wait = backoff.wait(address)
    if wait:
        return _too_many(wait)
    if authorized:
        backoff.succeeded(address)
    else:
        backoff.failed(address)
    return None


def _too_many(wait: float) -> Response:
    logger.warning("dashboard credentials from %s refused: too many failed attempts", request.remote_addr)
    response = _error(429, "Too many attempts", "Too many failed attempts from this address: "
                                                f"try again in {math.ceil(wait)} second(s).")
    response.headers["Retry-After"] = str(math.ceil(wait))
    return response


def _unauthorized(credentials: Credentials) -> Response:
    """401 (a basic-auth challenge, or JSON for the API), or the login form for a token."""
    challenge = 'Basic realm="limpyd-jobs dashboard", charset="UTF-8"' if credentials.user else \
        'Bearer realm="limpyd-jobs dashboard"'
    if _wants_json():
        response = jsonify(error="credentials required", status=401)
    elif credentials.user:
        response = Response(render_template("error.html", code=401, title="Credentials required",
                                            message="This dashboard asks for a user and a password.",
                                            login=bool(credentials.token)))
    else:
        back = request.full_path.rstrip("?") if request.method == "GET" else "/"
        return redirect(url_for("login", next=back), 303)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = challenge
    return response


# --- reading the request


def _page() -> int:
    """The ``page`` argument: 1 by default; 400 if it is not a whole number from 1 up."""
    value = request.args.get("page", "1")
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        abort(400, f"page must be a whole number from 1 to {MAX_PAGE}, not {value!r}")
    return int(value)


def _required(values: Any, name: str) -> str:
    value = values.get(name)
    if not value:
        abort(400, f"{name!r} is missing")
    return value


# --- pages


def _register_pages(app: Flask) -> None:
    @app.get("/")
    def overview() -> Any:
        current = settings()
        counts = operations.all_counts(current.queue_model)
        workers = operations.workers(current.heartbeat_timeout, current.queue_model)
        return render_template(
            "overview.html", counts=counts, totals=_totals(counts),
            workers=[(worker, _running(worker)) for worker in workers if worker.alive],
            dead_workers=sum(not worker.alive for worker in workers),
            failures=reading.recent_failures(counts, queue_model=current.queue_model,
                                             error_model=current.error_model),
            throughput=reading.throughput(current.queue_model.clock.now(), current.queue_model))

    @app.get("/api/counts")
    def api_counts() -> Any:
        current = settings()
        name = request.args.get("queue")
        if name is not None:
            return jsonify(queues=[operations.counts(name, current.queue_model).as_dict()])
        counts = operations.all_counts(current.queue_model)
        workers = operations.workers(current.heartbeat_timeout, current.queue_model)
        spark = reading.throughput(current.queue_model.clock.now(), current.queue_model)
        return jsonify(queues=[queue.as_dict() for queue in counts], totals=_totals(counts),
                       workers_alive=sum(worker.alive for worker in workers), throughput=spark.as_dict())

    @app.get("/queue")
    def queue() -> Any:
        current = settings()
        name = _required(request.args, "name")
        state = request.args.get("state", "waiting")
        if state not in operations.STATES:
            abort(400, f"state must be one of {', '.join(operations.STATES)}, not {state!r}")
        page = _page()
        identifier = request.args.get("identifier", "")
        if identifier:
            clean_identifier(identifier)  # bounded: 400 for what no job can be named
        counts = operations.counts(name, current.queue_model)
        size = current.page_size
        if identifier:
            try:
                jobs = [operations.find_job(f"{name}/{identifier}", current.queue_model)]
            except (operations.UnknownJob, operations.UnknownQueue, InvalidIdent):
                jobs = []
            more = False
        else:
            jobs = operations.jobs(name, state, (page - 1) * size, size + 1, current.queue_model)
            more = len(jobs) > size
            jobs = jobs[:size]
        total = getattr(counts, state) if state != "canceled" else None
        return render_template("queue.html", name=name, counts=counts, state=state, states=operations.STATES,
                               jobs=jobs, page=page, more=more, identifier=identifier, total=total,
                               last_errors=reading.last_errors(jobs, current.error_model)
                               if state == "error" else {},
                               pages=math.ceil(total / size) if total else None, cancelable=CANCELABLE,
                               error_status=STATUSES.ERROR)

    @app.get("/jobs/<ident>")
    def job(ident: str) -> Any:
        current = settings()
        info = operations.find_job(ident, current.queue_model)
        fields = sorted(info.fields.items())
        return render_template(
            "job.html", job=info, fields=[(name, value, name in DATE_FIELDS) for name, value in fields],
            errors=reading.newest_errors(info, current.error_model, current.queue_model),
            events=reading.job_events(info), cancelable=CANCELABLE, error_status=STATUSES.ERROR)

    @app.get("/workers")
    def workers() -> Any:
        current = settings()
        found = operations.workers(current.heartbeat_timeout, current.queue_model)
        return render_template("workers.html", workers=[(worker, _running(worker)) for worker in found],
                               heartbeat_timeout=current.heartbeat_timeout)

    @app.get("/schedules")
    def schedules() -> Any:
        return render_template("schedules.html", schedules=reading.schedule_rows())

    @app.get("/pending")
    def pending() -> Any:
        page = _page()
        size = settings().page_size
        rows, more = reading.pending_rows((page - 1) * size, size)
        return render_template("pending.html", rows=rows, page=page, more=more)


def _totals(counts: list[operations.QueueCounts]) -> dict[str, int]:
    return {state: sum(getattr(queue, state) for queue in counts)
            for state in ("waiting", "delayed", "running", "success", "error")}


def _running(worker: operations.WorkerState) -> list[tuple[operations.RunningJob, operations.JobInfo | None]]:
    """The jobs a worker runs, each with what is known of it (None: its model is unknown here)."""
    found = []
    for running in worker.running:
        try:
            info: operations.JobInfo | None = operations.find_job(running.name, settings().queue_model)
        except (operations.UnknownJob, InvalidIdent):
            info = None
        found.append((running, info))
    return found


# --- actions


def _register_actions(app: Flask) -> None:
    @app.post("/actions/<name>")
    def act(name: str) -> Any:
        action = ACTIONS.get(name)
        if action is None:
            abort(404, f"no action {name!r}")
        target = request.form.get(action.target) if action.name == "unset" else None
        if target is None:  # a schedule with an empty id (made before ids were checked) can be removed
            target = _required(request.form, action.target)
        back = local_path(request.form.get("next")) or "/"
        if action.destructive and request.form.get("confirm") != "yes":
            return render_template("confirm.html", action=action, target=target, next=back)
        try:
            message = _do(action, target)
        except operations.JobStateError as exc:
            flash(str(exc), "error")
        else:
            logger.info("dashboard action %s on %s from %s: %s", action.name, target, request.remote_addr,
                        message)
            flash(message, "success")
        return redirect(request.script_root + back, 303)


def _do(action: Action, target: str) -> str:
    """Do an action through the operations API; what happened, for the user."""
    current = settings()
    model = current.queue_model
    if action.name == "requeue":
        return f"Job {target} requeued in {operations.requeue(target, queue_model=model)}."
    if action.name == "cancel":
        return f"Job {target}: {operations.cancel(target, queue_model=model)}."
    if action.name == "unset":
        if recurring.tell(target)["status"] is None and not any(job_id == target for job_id, _ in
                                                                 recurring.schedules()):
            abort(404, f"no recurring schedule {target!r}")
        recurring.unset_schedule(target)
        return f"Schedule {target} removed."
    known = operations.queue_names(model)
    if target not in known and not (action.name == "resume" and target in operations.paused(model)):
        raise operations.UnknownQueue(f"no queue named {target!r}")
    if action.name == "requeue-failed":
        return f"{operations.requeue_failed(target, queue_model=model)} failed job(s) of {target} requeued."
    if action.name == "empty":
        return f"Queue {target} emptied: {operations.empty(target, queue_model=model)} job(s) canceled."
    if action.name == "pause":
        done = operations.pause(target, queue_model=model)
        return f"Queue {target} paused." if done else f"Queue {target} was paused already."
    done = operations.resume(target, queue_model=model)
    return f"Queue {target} resumed." if done else f"Queue {target} was not paused."


# --- errors


def _error(code: int, title: str, message: str) -> Response:
    if _wants_json():
        response = jsonify(error=message, status=code)
    else:
        response = Response(render_template("error.html", code=code, title=title, message=message,
                                            login=False))
    response.status_code = code
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code is None or exc.code < 400:
            return exc
        return _error(exc.code, exc.name, exc.description or exc.name)

    @app.errorhandler(operations.UnknownQueue)
    @app.errorhandler(operations.UnknownJob)
    def unknown(exc: Exception) -> Response:
        return _error(404, "Not found", str(exc))

    @app.errorhandler(InvalidIdent)
    @app.errorhandler(InvalidValue)
    @app.errorhandler(InvalidType)
    def invalid(exc: Exception) -> Response:
        return _error(400, "Bad request", str(exc))

    @app.errorhandler(RedisError)
    def redis_error(exc: RedisError) -> Response:
        where = describe(settings().queue_model.database.connection_settings) if g.get("authorized") \
            else "(where: shown once logged in)"
        if not is_outage(exc):
            logger.exception("Redis at %s refused a command of the dashboard", where)
            return _error(500, "Redis error", f"Redis at {where} answered with an error: {exc}")
        logger.warning("Redis at %s does not answer: %s", where, exc)
        response = _error(503, "Redis does not answer",
                          f"Redis at {where} does not answer ({exc}). The dashboard keeps running: this "
                          "page works again as soon as Redis answers.")
        response.headers["Retry-After"] = "5"
        return response
