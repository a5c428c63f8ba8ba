"""Deployments that lock Redis down: a password never printed, TLS with client certificates, an
ACL user limited to the keys under one prefix."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from limpyd_jobs import STATUSES, Job
from limpyd_jobs.cli.config import WorkerConfig
from limpyd_jobs.testing.server import RedisServer, RedisServerError


def record(job, queue):
    job.get_connection().rpush("executions", job.identifier.hget())


def test_the_password_of_the_database_is_never_printed(redis_server, database):
    with RedisServer(arguments=["--requirepass", "s3cret"], client_options={"password": "s3cret"}) as locked:
        out = io.StringIO()
        url = f"--database=redis://:s3cret@127.0.0.1:{locked.port}/0"
        try:
            config = WorkerConfig(["--queues=q", url, "--print-options", "--dry-run", "--no-title",
                                   "--no-terminate-gracefuly"], stdout=out)
            assert config.execute() == 0
        finally:
            database.reset(host="127.0.0.1", port=redis_server.port, db=0)
    assert f"database: redis://:***@127.0.0.1:{locked.port}/0" in out.getvalue()
    assert "s3cret" not in out.getvalue()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A certificate authority, and a server's and a client's certificate it signed."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make certificates")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*arguments):
        subprocess.run(["openssl", *arguments], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.crt")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", f"{name}.key",
                "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-out", f"{name}.crt")
    return folder


def test_tls_with_a_client_certificate_given_in_the_url(certificates, redis_server, database):
    files = {name: str(certificates / name) for name in ("ca.crt", "server.crt", "server.key", "client.crt",
                                                         "client.key")}
    arguments = ["--port", "0", "--tls-port", "{port}", "--tls-cert-file", files["server.crt"],
                 "--tls-key-file", files["server.key"], "--tls-ca-cert-file", files["ca.crt"],
                 "--tls-auth-clients", "yes"]
    client_options = {"ssl": True, "ssl_certfile": files["client.crt"], "ssl_keyfile": files["client.key"],
                      "ssl_ca_certs": files["ca.crt"], "ssl_check_hostname": False}
    try:
        server = RedisServer(arguments=arguments, client_options=client_options).start()
    except RedisServerError:
        pytest.skip("this redis-server has no TLS")
    try:
        url = (f"rediss://127.0.0.1:{server.port}/0?ssl_certfile={files['client.crt']}"
               f"&ssl_keyfile={files['client.key']}&ssl_ca_certs={files['ca.crt']}&ssl_check_hostname=false")
        without_certificate = f"rediss://127.0.0.1:{server.port}/0?ssl_cert_reqs=none"
        with pytest.raises(redis.ConnectionError):  # the server wants a client certificate
            redis.Redis.from_url(without_certificate).ping()
        config = WorkerConfig(["--queues=q", f"--database={url}", "--callback=test_security.record",
                               "--max-loops=1", "--no-title", "--no-terminate-gracefuly", "--timeout=0.05"])
        config.prepare_models()  # the models now talk TLS, with the certificate of the URL
        job = Job.add_job(identifier="job:1", queue_name="q")
        config.execute()
        assert job.status.hget() == STATUSES.SUCCESS
        assert server.client().lrange("executions", 0, -1) == [b"job:1"]
    finally:
        server.stop()
        database.reset(host="127.0.0.1", port=redis_server.port, db=0)


ACL_SCRIPT = textwrap.dedent("""
    import logging, sys, threading
    from limpyd_jobs import Job, STATUSES
    from limpyd_jobs.workers import Worker
    from limpyd_jobs.recurring.scheduler import set_schedule, dispatch, control
    from limpyd_jobs.pending import schedule_job, pending_jobs
    from limpyd_jobs.cli.sweeper import main as sweeper

    def work(job, queue):
        job.get_connection().rpush("myapp:executions", job.identifier.hget())

    job = Job.add_job(identifier="job:1", queue_name="q")
    failing = Job.add_job(identifier="job:2", queue_name="q", delayed_for=-1)
    set_schedule("report:q", "NOW")
    dispatch()
    schedule_job("feed", schedule_in=-1, url="x")
    assert [item["id"] for item in pending_jobs()] == ["feed"]
    Worker("q", callback=work, max_loops=3, timeout=0.05, terminate_gracefuly=False, recovery_delay=0.01,
           purge_delay=0.01, logger_level=logging.ERROR).run()
    assert job.status.hget() == STATUSES.SUCCESS, job.status.hget()
    assert sweeper(["--once"]) == 0
    control("HALT"); control("CLEAR")
    print("ok")
""")


def test_an_acl_user_limited_to_one_prefix_runs_everything(redis_server, connection, tmp_path):
    if tuple(int(part) for part in connection.info("server")["redis_version"].split(".")[:2]) < (6, 0):
        pytest.skip("Redis ACLs need Redis 6")
    connection.execute_command("ACL", "SETUSER", "app", "on", ">app-secret", "~myapp:*", "&*", "+@all",
                               "-@dangerous")
    try:
        script = tmp_path / "acl_run.py"
        script.write_text(ACL_SCRIPT)
        environment = {"LIMPYD_JOBS_PREFIX": "myapp", "PYTHONPATH": str(Path(__file__).parent),
                       "REDIS_URL": f"redis://app:app-secret@127.0.0.1:{redis_server.port}/0"}
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                                env={**__import__("os").environ, **environment})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "ok"
        assert connection.lrange("myapp:executions", 0, -1) == ["job:1", "job:2", "report:q"]
        keys = connection.keys("*")
        assert keys and all(key.startswith("myapp:") for key in keys), sorted(keys)
    finally:
        connection.execute_command("ACL", "DELUSER", "app")
