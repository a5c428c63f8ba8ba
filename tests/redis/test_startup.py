"""A worker that is right out of the box: start-up errors on one line with their own exit codes,
``--help``/``--version`` and ``import limpyd_jobs`` without Redis nor a valid ``REDIS_URL``,
defaults in ``--help``, the current directory on the path, ``__main__`` Job models refused,
options from the environment and an INI file, and JSON logs or a logging config file."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
import sample_config
from helpers import TESTS_DIR

from limpyd_jobs import STATUSES, ConfigurationException, Job, __version__
from limpyd_jobs.cli.common import RET_IMPORT, RET_OK, RET_USAGE
from limpyd_jobs.cli.config import OPTIONS, WorkerConfig, environment_variable, make_parser
from limpyd_jobs.cli.worker import main
from limpyd_jobs.connection import default_settings
from limpyd_jobs.logs import EXTRA_FIELDS, JsonFormatter
from limpyd_jobs.orm import JobsDatabase

PREFIX = "limpyd-jobs-worker: error: "


@pytest.fixture(autouse=True)
def no_option_in_the_environment(monkeypatch):
    """Start without any LIMPYD_JOBS_<OPTION> variable (the user's would change the options)."""
    for setting in OPTIONS:
        monkeypatch.delenv(environment_variable(setting), raising=False)


@pytest.fixture
def db_arg(redis_server):
    return f"--database=127.0.0.1:{redis_server.port}:0"


@pytest.fixture
def dry_run(db_arg):
    """Arguments of a run on the tests' Redis that stops at once."""
    return ["--queues=q", db_arg, "--dry-run", "--no-title"]


def worker_script() -> str:
    script = Path(sys.executable).parent / "limpyd-jobs-worker"
    assert script.exists(), "the console script is installed in the venv"
    return str(script)


def clean_environ(**changes: str | None) -> dict[str, str]:
    """The environment for a subprocess: ours without LIMPYD_JOBS_<OPTION>, with ``changes``
    (None: removed)."""
    names = {environment_variable(setting) for setting in OPTIONS}
    env = {name: value for name, value in os.environ.items() if name not in names}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_worker(*args: str, env: dict[str, str] | None = None, cwd: str | Path | None = None):
    return subprocess.run([worker_script(), *args], capture_output=True, text=True, timeout=60,
                          env=env or clean_environ(), cwd=cwd)


def run_main(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, expected_code: int, *parts: str) -> str:
    """The exit code, and an error said on one line (no usage, no traceback) holding ``parts``."""
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(PREFIX), err
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


# --- A. start-up errors: one line each, distinct exit codes


@pytest.mark.slow
def test_a_callback_module_with_a_syntax_error_exits_ret_import_in_one_line(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "__init__.py").write_text("")
    (tmp_path / "photos" / "jobs.py").write_text("x = 1\ny = 2\nz = = 3\n")
    result = run_worker("--queues=q", "--callback=photos.jobs.resize", cwd=tmp_path)
    assert result.returncode == RET_IMPORT == 4
    assert result.stderr == (f"{PREFIX}argument --callback: Unable to import \"callback\""
                             f" from 'photos.jobs.resize': "
                             "SyntaxError: invalid syntax (jobs.py, line 3)\n")


@pytest.fixture
def broken_modules(tmp_path, monkeypatch):
    """Modules (unique names) that fail at import in various ways, on the path."""
    (tmp_path / "startup_raising.py").write_text("raise RuntimeError('no settings configured')\n")
    (tmp_path / "startup_missing_dep.py").write_text("import startup_no_such_dependency\n")
    (tmp_path / "startup_syntax.py").write_text("class Config(\n")
    (tmp_path / "startup_fine.py").write_text("NOT_CALLABLE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("startup_raising", "startup_missing_dep", "startup_syntax", "startup_fine"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("args, expected", [
    (["--callback=startup_no_such_module.run"],
     "argument --callback: Unable to import \"callback\""
     " from 'startup_no_such_module.run': ModuleNotFoundError: "
     "No module named 'startup_no_such_module'"),
    (["--callback=startup_raising.run"],
     "argument --callback: Unable to import \"callback\""
     " from 'startup_raising.run': RuntimeError: no settings configured"),
    (["--worker-class=startup_missing_dep.MyWorker"],
     "argument --worker-class: Unable to import \"worker_class\""
     " from 'startup_missing_dep.MyWorker': ModuleNotFoundError: "
     "No module named 'startup_no_such_dependency'"),
    (["--queue-model=startup_fine.MyQueue"],
     "argument --queue-model: Unable to import \"queue_model\""
     " from 'startup_fine.MyQueue': module 'startup_fine' has no attribute 'MyQueue'"),
    (["--error-model=startup_syntax.MyError"],
     "argument --error-model: Unable to import \"error_model\" from 'startup_syntax.MyError': SyntaxError: "),
    (["--worker-config=startup_syntax.Config"],
     "cannot import worker config 'startup_syntax.Config': SyntaxError: "),
    (["--job-modules=startup_fine,startup_raising"],
     "cannot import job module 'startup_raising': RuntimeError: no settings configured"),
    (["--never-retry=startup_syntax.Fatal"],
     "argument --never-retry: cannot import 'startup_syntax.Fatal': SyntaxError: "),
    (["--never-retry=startup_fine.Fatal"],
     "Invalid value for never_retry (--never-retry): module 'startup_fine' has no attribute 'Fatal'"),
])
def test_what_cannot_be_imported_exits_ret_import_in_one_line(args, expected, broken_modules, capsys):
    code, _, err = run_main(["--queues=q", *args], capsys)
    assert_one_line_error(code, err, RET_IMPORT, expected)


@pytest.mark.parametrize("options, expected", [
    ({"callback": 42}, "callback: 42 is not callable (its type: int)"),
    ({"queue_model": int}, "queue_model: <class 'int'> is not Queue or a subclass"),
    ({"error_model": None}, "error_model: None is not Error or a subclass"),
])
def test_a_worker_checks_its_object_options_as_the_command_does(options, expected):
    from limpyd_jobs.workers import Worker

    with pytest.raises(ConfigurationException) as raised:
        Worker(queues="q", **options)
    assert str(raised.value) == expected


@pytest.mark.parametrize("args, expected", [
    (["--callback=startup_fine.NOT_CALLABLE"],
     "argument --callback: The callback is not callable: 'startup_fine.NOT_CALLABLE' (its type: int)"),
    (["--callback=noop"], "callback 'noop' is not a dotted path"),
    (["--database=host:port:db"], "argument --database: 'host:port:db': port and db must be integers"),
    (["--database=http://h:1/0"], "argument --database: 'http://h:1/0': Redis URL must specify"),
    (["--queue-model=startup_fine.NOT_CALLABLE"], "argument --queue-model: 42 is not Queue or a subclass"),
    (["--max-loops=abc"], "option --max-loops: invalid integer value: 'abc'"),
    (["--max-loops=-1"], "The max-loops argument (-1) must be a positive integer (including 0)"),
    (["--logger-level=bar"], "Invalid logger-level bar: not a logging level (DEBUG, INFO"),
    (["--timeout=none"], "option --timeout: invalid integer value: 'none' (nor a decimal number of seconds)"),
    (["--timeout=-0.5"], "The timeout argument (-0.5) must be a positive integer (including 0) or decimal"),
    (["--timeout=1e10"], "Invalid value for timeout (--timeout): it is a number of seconds from 0 to"),
])
def test_values_that_cannot_be_used_exit_ret_usage_in_one_line(args, expected, broken_modules, db_arg,
                                                                capsys):
    code, _, err = run_main(["--queues=q", "--dry-run", "--no-title", db_arg, *args], capsys)
    assert_one_line_error(code, err, RET_USAGE, expected)


def test_a_password_in_a_malformed_database_url_is_not_printed(capsys):
    code, _, err = run_main(["--queues=q", "--database=redis://:s3cret@h:notaport/0"], capsys)
    assert_one_line_error(code, err, RET_USAGE, "argument --database: 'redis://:***@h:notaport/0'")
    assert "s3cret" not in err


# --- B. --help, --version and the import need no Redis nor a valid REDIS_URL


@pytest.mark.slow
def test_importing_the_package_never_reads_redis_url():
    result = subprocess.run(
        [sys.executable, "-c", "import limpyd_jobs, limpyd_jobs.workers, limpyd_jobs.cli.worker; print(1)"],
        capture_output=True, text=True, timeout=60, env=clean_environ(REDIS_URL="garbage"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "1\n", "")


@pytest.mark.parametrize("flag, expected", [("--help", "Usage: limpyd-jobs-worker"),
                                            ("--version", f"limpyd-jobs-worker {__version__}")])
@pytest.mark.slow
def test_help_and_version_need_no_valid_redis_url(flag, expected):
    result = run_worker(flag, env=clean_environ(REDIS_URL="garbage"))
    assert result.returncode == RET_OK, result.stderr
    assert result.stdout.startswith(expected)
    assert result.stderr == ""


@pytest.mark.slow
def test_database_given_wins_without_redis_url_being_read(redis_server, dry_run):
    result = run_worker(*dry_run, "--print-options", env=clean_environ(REDIS_URL="garbage"))
    assert result.returncode == RET_OK, result.stderr
    assert f"database: 127.0.0.1:{redis_server.port}:0\n" in result.stdout
    assert "REDIS_URL" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_malformed_redis_url_is_said_in_one_line_naming_it():
    result = run_worker("--queues=q", "--dry-run", env=clean_environ(REDIS_URL="garbage"))
    assert_one_line_error(result.returncode, result.stderr, RET_USAGE,
                          "environment variable REDIS_URL: 'garbage': Redis URL must specify one of the "
                          "following schemes")
    assert result.stdout == ""


def test_redis_url_is_read_on_first_use_and_its_errors_name_it(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret@h:notaport/0")
    database = JobsDatabase.lazy(default_settings)  # as the models' own: nothing read yet
    with pytest.raises(ConfigurationException, match="^environment variable REDIS_URL: 'redis://:\\*\\*\\*@h"):
        _ = database.connection_settings
    with pytest.raises(ConfigurationException, match="REDIS_URL"):  # said again at the next use
        _ = database.connection
    monkeypatch.setenv("REDIS_URL", "redis://somewhere:7000/3")
    assert database.connection_settings == {"host": "somewhere", "port": 7000, "db": 3}


def test_a_database_reset_before_use_never_reads_its_settings():
    def must_not_run():
        raise AssertionError("read")

    database = JobsDatabase.lazy(must_not_run)
    database.reset(host="h", port=1, db=2)
    assert database.connection_settings == {"host": "h", "port": 1, "db": 2}


# --- C. --help shows every default


def _helps() -> dict[str, str]:
    return {action.option_strings[0]: action.help.replace("%%", "%") for action in make_parser()._actions
            if action.help and action.option_strings[0] not in ("-h", "--version")}


@pytest.mark.parametrize("flag, ending", [
    ("--timeout", "(default: 30)"), ("--fetch-priorities-delay", "(default: 25)"),
    ("--keep-finished", "(default: 10000)"), ("--queue-model", "(default: limpyd_jobs.models.Queue)"),
    ("--worker-class", "(default: limpyd_jobs.workers.Worker)"), ("--logger-level", "(default: INFO)"),
    ("--logger-name", "(default: limpyd-jobs)"), ("--finished-ttl", "(default: no limit)"),
    ("--pythonpath", "(default: none)"), ("--save-errors", "(default: on)"), ("--dry-run", "(default: off)"),
    ("--execution-mode", "(default: inprocess)"), ("--log-format", "(default: text)"),
    ("--database", "(default: REDIS_URL if set, else localhost:6379:0)"),
        ("--queues", "(required, unless the worker class has queues)"),
])
def test_help_ends_with_the_default(flag, ending):
    assert _helps()[flag].endswith(ending)


def test_every_option_says_its_default_once():
    for flag, text in _helps().items():
        if text.startswith("Do NOT:"):  # the --no- twin of a switch: said on the switch
            continue
        said_by_the_help = "default" in text.split(", e.g.")[0].lower()
        example = text.rpartition(", e.g.")[2]
        assert said_by_the_help or example.endswith("has queues)") or "(default: " in example, flag
        assert text.lower().count("default") <= 1, flag  # not doubled where the help says it
    assert "1000 by default" in _helps()["--max-loops"]


# --- D. the current directory is on the path


@pytest.mark.slow
def test_the_current_directory_is_on_the_path(tmp_path, db_arg):
    (tmp_path / "cwd_tasks.py").write_text(textwrap.dedent("""
        def callback(job, queue):
            job.get_connection().set("called-by", job.identifier.hget())
    """))
    (tmp_path / "cwd_config.py").write_text(textwrap.dedent("""
        from limpyd_jobs.workers import WorkerConfig

        class Config(WorkerConfig):
            def __init__(self, argv=None, stdout=None):
                print("cwd config")
                super().__init__(argv, stdout)
    """))
    Job.add_job(identifier="job:1", queue_name="q")
    result = run_worker("--queues=q", "--callback=cwd_tasks.callback", "--worker-config=cwd_config.Config",
                        "--max-loops=1", "--timeout=1", "--no-title", db_arg, cwd=tmp_path)
    assert result.returncode == RET_OK, result.stderr
    assert result.stdout == "cwd config\n"
    assert Job.get_connection().get("called-by") == "job:1"


# --- E. Job models defined in __main__ are refused


@pytest.mark.slow
def test_a_job_model_of_a_script_run_as_main_is_refused_before_anything_is_written(tmp_path, redis_server,
                                                                                  connection):
    script = tmp_path / "enqueue.py"
    script.write_text(textwrap.dedent("""
        from limpyd_jobs import Job, LimpydJobsException
        from limpyd_jobs.orm import instance

        class ResizeJob(Job):
            queue_name = "photos"

        calls = {
            "add_job": lambda: ResizeJob.add_job(identifier="photo:1"),
            "add_jobs": lambda: ResizeJob.add_jobs(["photo:1", "photo:2"]),
            "enqueue_or_delay": lambda: instance(ResizeJob, "1").enqueue_or_delay(),
        }
        for name, call in calls.items():
            try:
                call()
            except LimpydJobsException as exc:
                print(f"{name}: {type(exc).__name__}: {exc}")
            else:
                print(f"{name}: accepted")
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=clean_environ(REDIS_URL=redis_server.url))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["add_job", "add_jobs", "enqueue_or_delay"]
    for line in lines:
        assert line.split(": ", 1)[1] == (
            "ConfigurationException: ResizeJob is defined in __main__ (the script being run): its jobs "
            "would be stored as '__main__.ResizeJob:<pk>', which no worker can import; move the class to "
            "an importable module (jobs.py...) and import it from the script")
    assert connection.keys("*") == []


# --- F. options from the environment and an INI file


def test_options_from_the_environment(monkeypatch, db_arg):
    monkeypatch.setenv("LIMPYD_JOBS_QUEUES", "a,b")
    monkeypatch.setenv("LIMPYD_JOBS_MAX_LOOPS", "7")
    monkeypatch.setenv("LIMPYD_JOBS_SAVE_ERRORS", "false")
    monkeypatch.setenv("LIMPYD_JOBS_CALLBACK", "sample_jobs.noop")
    monkeypatch.setenv("LIMPYD_JOBS_UPDATE_TITLE", "no")
    monkeypatch.setenv("LIMPYD_JOBS_TIMEOUT", "")  # empty: not set
    config = WorkerConfig(["limpyd-jobs-worker", db_arg])
    options = config.options
    assert (options.queues, options.max_loops, options.save_errors) == ("a,b", 7, False)
    assert options.callback.__name__ == "noop" and options.update_title is False
    assert options.timeout is None
    assert config.sources["max_loops"] == "LIMPYD_JOBS_MAX_LOOPS"


def test_database_from_the_environment(monkeypatch, redis_server):
    monkeypatch.setenv("LIMPYD_JOBS_DATABASE", f"redis://127.0.0.1:{redis_server.port}/0")
    config = WorkerConfig(["limpyd-jobs-worker", "--queues=q", "--dry-run", "--no-title"])
    assert config.options.database == f"redis://127.0.0.1:{redis_server.port}/0"
    assert config.execute() == RET_OK


def write_ini(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


def test_precedence_command_line_then_environment_then_file_then_worker_class(tmp_path, monkeypatch, db_arg):
    ini = write_ini(tmp_path / "worker.ini", """
        [limpyd-jobs-worker]
        queues = from-file
        max-loops = 3
        timeout = 4
        requeue_times = 2
        save-errors = no

        [some-other-tool]
        anything = goes
    """)
    monkeypatch.setenv("LIMPYD_JOBS_MAX_LOOPS", "5")
    monkeypatch.setenv("LIMPYD_JOBS_TIMEOUT", "6")
    out = io.StringIO()
    config = WorkerConfig(["limpyd-jobs-worker", f"--config={ini}", "--max-loops=9", "--print-options",
                           "--dry-run", "--no-title", "--no-terminate-gracefuly", db_arg], stdout=out)
    options = config.options
    assert options.queues == "from-file"
    assert (options.max_loops, options.timeout, options.requeue_times) == (9, 6, 2)  # line > env > file
    assert options.save_errors is False and options.fetch_delayed_delay is None
    assert config.execute() == RET_OK
    printed = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    assert (printed["max_loops"], printed["timeout"], printed["requeue_times"]) == ("9", "6.0", "2")
    assert printed["save_errors"] == "False"
    assert printed["fetch_delayed_delay"] == "25.0"  # the worker class's default
    assert printed["config"] == str(ini)


def test_the_config_file_from_the_environment(tmp_path, monkeypatch):
    ini = write_ini(tmp_path / "worker.ini", "[limpyd-jobs-worker]\nqueues = q1,q2\n")
    monkeypatch.setenv("LIMPYD_JOBS_CONFIG", str(ini))
    options = WorkerConfig(["limpyd-jobs-worker"]).options
    assert options.queues == "q1,q2" and options.config == str(ini)


def test_worker_config_and_pythonpath_from_the_config_file(tmp_path, db_arg, capsys):
    ini = write_ini(tmp_path / "worker.ini", f"""
        [limpyd-jobs-worker]
        pythonpath = {TESTS_DIR}
        worker_config = sample_config.SetupWorkerConfig
        queues = q
    """)
    sample_config.SETUP_CALLS.clear()
    code, _, err = run_main([f"--config={ini}", "--dry-run", "--no-title", db_arg], capsys)
    assert code == RET_OK, err
    assert sample_config.SETUP_CALLS == ["setup"]


@pytest.mark.parametrize("body, expected", [
    ("[limpyd-jobs-worker]\nqueues = q\nmax_loop = 3\n",
     "argument --config: unknown option 'max_loop' in [limpyd-jobs-worker] of '{path}'"),
    ("[limpyd-jobs-worker]\nconfig = other.ini\n",
     "argument --config: unknown option 'config' in [limpyd-jobs-worker] of '{path}'"),
    ("[limpyd-jobs-worker]\nmax_loops = 1\nmax-loops = 2\n",
     "argument --config: option 'max_loops' given twice in [limpyd-jobs-worker] of '{path}'"),
    ("[other]\nqueues = q\n", "argument --config: '{path}' has no [limpyd-jobs-worker] section"),
    ("queues = q\n", "argument --config: '{path}' is not an INI file: "),
    ("[limpyd-jobs-worker]\nqueues = q\nmax_loops = many\n",
     "max_loops in {path}: invalid integer value: 'many'"),
])
def test_a_config_file_that_cannot_be_used_exits_ret_usage_in_one_line(body, expected, tmp_path, capsys):
    ini = tmp_path / "worker.ini"
    ini.write_text(body)
    code, _, err = run_main([f"--config={ini}"], capsys)
    assert_one_line_error(code, err, RET_USAGE, expected.format(path=ini))


def test_an_unreadable_config_file_exits_ret_usage_in_one_line(tmp_path, capsys):
    code, _, err = run_main(["--queues=q", f"--config={tmp_path / 'missing.ini'}"], capsys)
    missing = tmp_path / "missing.ini"
    assert_one_line_error(code, err, RET_USAGE, f"argument --config: '{missing}': cannot read it: No such")
    code, _, err = run_main(["--queues=q", f"--config={tmp_path}"], capsys)
    assert_one_line_error(code, err, RET_USAGE, f"argument --config: '{tmp_path}': cannot read it: Is a dir")


def test_a_bad_environment_value_is_said_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("LIMPYD_JOBS_MAX_LOOPS", "abc")
    code, _, err = run_main(["--queues=q"], capsys)
    assert_one_line_error(code, err, RET_USAGE,
                          "LIMPYD_JOBS_MAX_LOOPS: invalid integer value: 'abc'")
    monkeypatch.delenv("LIMPYD_JOBS_MAX_LOOPS")
    monkeypatch.setenv("LIMPYD_JOBS_CALLBACK", "startup_no_such_module.run")
    code, _, err = run_main(["--queues=q"], capsys)
    assert_one_line_error(code, err, RET_IMPORT,
                          "LIMPYD_JOBS_CALLBACK: Unable to import \"callback\""
                          " from 'startup_no_such_module.run'")
    monkeypatch.delenv("LIMPYD_JOBS_CALLBACK")
    monkeypatch.setenv("LIMPYD_JOBS_DATABASE", "host:port:db")
    code, _, err = run_main(["--queues=q"], capsys)
    assert_one_line_error(code, err, RET_USAGE, "error: LIMPYD_JOBS_DATABASE: 'host:port:db': port and db")


# --- G. logging


def test_json_formatter_writes_the_fields_of_the_record():
    record = logging.LogRecord("limpyd-jobs", logging.WARNING, __file__, 1, "[%s] job %s failed",
                               ("w1", "photo:1"), None)
    for name, value in {"worker_id": "w1", "queue": "photos", "identifier": "photo:1", "attempt": 2,
                        "ident": "jobs.ResizeJob:1", "duration": 0.25}.items():
        setattr(record, name, value)
    entry = json.loads(JsonFormatter().format(record))
    assert entry == {"time": entry["time"], "level": "WARNING", "logger": "limpyd-jobs",
                     "message": "[w1] job photo:1 failed", "process": os.getpid(), "worker_id": "w1",
                     "queue": "photos", "identifier": "photo:1", "ident": "jobs.ResizeJob:1", "attempt": 2,
                     "duration": 0.25}
    moment = datetime.fromisoformat(entry["time"])
    assert moment.utcoffset().total_seconds() == 0
    assert abs(moment.timestamp() - record.created) < 0.001


def test_json_formatter_leaves_out_missing_fields_and_writes_tracebacks():
    try:
        raise ValueError("bad photo")
    except ValueError:
        record = logging.LogRecord("limpyd-jobs", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    record.queue = object()  # JSON cannot hold it: its str()
    entry = json.loads(JsonFormatter().format(record))
    assert set(entry) == {"time", "level", "logger", "message", "process", "queue", "traceback"}
    assert entry["traceback"].startswith("Traceback") and "ValueError: bad photo" in entry["traceback"]
    assert entry["queue"].startswith("<object object")
    assert set(EXTRA_FIELDS) == {"worker_id", "queue", "identifier", "ident", "attempt", "duration"}


@pytest.mark.slow
def test_log_format_json_writes_json_lines(dry_run):
    result = run_worker(*dry_run, "--log-format=json")
    assert result.returncode == RET_OK, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert entries
    ended = next(entry for entry in entries if "run ended" in entry["message"])
    assert (ended["level"], ended["logger"]) == ("INFO", "limpyd-jobs")
    assert ended["worker_id"] and ended["message"].startswith(f"[{ended['worker_id']}]")


@pytest.mark.slow
def test_log_config_file_is_applied(tmp_path, dry_run):
    log_file = tmp_path / "worker.log"
    log_config = tmp_path / "logging.json"
    log_config.write_text(json.dumps({
        "version": 1,
        "formatters": {"json": {"()": "limpyd_jobs.logs.JsonFormatter", "fields": ["worker_id"]}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log_file),
                              "formatter": "json"}},
        "loggers": {"limpyd-jobs": {"handlers": ["file"], "level": "INFO"}},
    }))
    result = run_worker(*dry_run, f"--log-config={log_config}", "--log-format=text")
    assert result.returncode == RET_OK, result.stderr
    assert result.stderr == ""  # our handler was not added
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any("run ended" in entry["message"] and entry["worker_id"] for entry in entries)


@pytest.mark.parametrize("content, expected", [
    ("{not json", "is not a JSON file: "),
    ("[1, 2]", "holds no JSON object (a dictConfig)"),
    (json.dumps({"version": 1, "handlers": {"h": {"class": "startup.NoSuchHandler"}}}),
     "Unable to configure handler 'h'"),
])
@pytest.mark.slow
def test_a_malformed_log_config_exits_ret_usage_in_one_line(content, expected, tmp_path, dry_run):
    log_config = tmp_path / "logging.json"
    log_config.write_text(content)
    result = run_worker(*dry_run, f"--log-config={log_config}")
    assert_one_line_error(result.returncode, result.stderr, RET_USAGE,
                          f"argument --log-config: '{log_config}'", expected)


@pytest.mark.slow
def test_a_missing_log_config_exits_ret_usage_in_one_line(tmp_path, dry_run):
    result = run_worker(*dry_run, f"--log-config={tmp_path / 'nope.json'}")
    assert_one_line_error(result.returncode, result.stderr, RET_USAGE,
                          f"argument --log-config: cannot read '{tmp_path / 'nope.json'}': No such file")


@pytest.mark.slow
def test_jobs_run_with_json_logs(db_arg):
    job = Job.add_job(identifier="job:1", queue_name="q")
    result = run_worker("--queues=q", "--callback=sample_jobs.noop", f"--pythonpath={TESTS_DIR}",
                        "--max-loops=1", "--timeout=1", "--no-title", db_arg, "--log-format=json")
    assert result.returncode == RET_OK, result.stderr
    assert job.status.hget() == STATUSES.SUCCESS
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert all(entry["logger"] == "limpyd-jobs" for entry in entries)
