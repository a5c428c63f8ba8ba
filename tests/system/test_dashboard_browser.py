"""The dashboard in a real browser: Debian's Chromium, headless, driven by Selenium through
Debian's chromedriver, against the dashboard served by a thread on a free port, with real workers
on the private Redis. Also takes the screenshots of docs/ (``LIMPYD_JOBS_DASHBOARD_SCREENSHOTS=1``).

Skipped only when chromium or chromedriver is not installed (``.ci/run`` installs them)."""

from __future__ import annotations

import os
import shutil
import struct
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import ROOT, SCRIPT, ClockedWorker, Data, fill

pytest.importorskip("flask")
pytest.importorskip("selenium")

from flask import Flask  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from limpyd_jobs import STATUSES, Job, Queue, Worker, recurring  # noqa: E402
from limpyd_jobs import operations as ops  # noqa: E402
from limpyd_jobs.clock import SYSTEM_CLOCK  # noqa: E402
from limpyd_jobs.dashboard import create_app  # noqa: E402
from limpyd_jobs.models import BaseJobsModel  # noqa: E402
from limpyd_jobs.protocol.scripts import beat  # noqa: E402
from limpyd_jobs.testing.clock import ManualClock  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
#: The viewer's time zone: the browser's, not the server's (UTC).
VIEWER_TIME_ZONE = "Asia/Tokyo"
WIDTH = 1280
#: Set to 1 to write the screenshots into docs/ (else they go to the test's temporary directory).
SCREENSHOTS_VARIABLE = "LIMPYD_JOBS_DASHBOARD_SCREENSHOTS"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="the browser tests need Debian's chromium and chromium-driver packages "
           "(apt-get install -y chromium chromium-driver; .ci/run installs them)")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium in the viewer's time zone, through chromedriver (both Debian's)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WIDTH},900", "--lang=en-US", "--hide-scrollbars"):
        options.add_argument(argument)
    service = Service(CHROMEDRIVER, env={**os.environ, "TZ": VIEWER_TIME_ZONE})
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser: WebDriver) -> Iterator[WebDriver]:
    """The browser, its cookies for 127.0.0.1 cleared after the test."""
    browser.set_window_size(WIDTH, 900)
    yield browser
    if browser.current_url.startswith("http://127.0.0.1"):
        browser.delete_all_cookies()


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """``serve(app)``: the app served by Werkzeug's threaded server on a free port; its base URL."""
    servers = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture
def data() -> Iterator[Data]:
    made = fill()
    yield made
    made.busy.release()


class RecordingWorker:
    """A real worker in a thread whose jobs succeed, each run recorded; ``wait_for`` awaits a run."""

    def __init__(self, queue: str) -> None:
        self.condition = threading.Condition()
        self.runs: list[str] = []
        self.worker = Worker(queue, callback=self._record, timeout=0.05, terminate_gracefuly=False)
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _record(self, job: Job, queue: Queue) -> None:
        with self.condition:
            self.runs.append(job.identifier.hget())
            self.condition.notify_all()

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as exc:  # given to the test by stop()
            self.errors.append(exc)

    def wait_for(self, identifier: str, timeout: float = 30) -> None:
        with self.condition:
            ran = self.condition.wait_for(lambda: identifier in self.runs, timeout)
        assert ran, f"{identifier} did not run"

    def stop(self) -> None:
        self.worker.end_forced = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "the worker did not stop"
        if self.errors:
            raise self.errors[0]


def wait(browser: WebDriver, timeout: float = 10) -> WebDriverWait:
    return WebDriverWait(browser, timeout)


def click_and_answer(browser: WebDriver, button: WebElement, accept: bool) -> str:
    """Click a button that asks with confirm(), answer it; the question."""
    button.click()
    alert = wait(browser).until(expected_conditions.alert_is_present())
    question = alert.text
    alert.accept() if accept else alert.dismiss()
    return question


def flashed(browser: WebDriver, words: str) -> WebElement:
    """Await the message of an action, shown once the page it sent back to is loaded."""
    def shown(driver: WebDriver) -> WebElement | None:
        banners = driver.find_elements(By.CSS_SELECTOR, ".banner.success")
        return next((banner for banner in banners if words in banner.text), None)

    return wait(browser).until(shown)


def no_alert(browser: WebDriver) -> bool:
    try:
        browser.switch_to.alert  # noqa: B018 - raises when no alert is open
    except NoAlertPresentException:
        return True
    return False


def shown_counts(browser: WebDriver) -> dict[tuple[str, str], int]:
    return {(cell.get_attribute("data-queue"), cell.get_attribute("data-count")): int(cell.text)
            for cell in browser.find_elements(By.CSS_SELECTOR, "[data-count]")}


# --- the tests


def test_the_overview_shows_the_right_counts_and_refreshes_them_live(page, serve, data):
    base = serve(create_app(secret_key="browser", refresh=0.2))
    page.get(base + "/")
    expected = {(queue.name, state): getattr(queue, state) for queue in ops.all_counts()
                for state in ("waiting", "delayed", "running", "success", "error")}
    assert shown_counts(page) == expected
    assert (expected[("images", "success")], expected[("images", "error")], expected[("reports", "running")],
            expected[("emails", "waiting")]) == (3, 2, 1, 1)
    assert page.find_element(By.CSS_SELECTOR, "[data-workers-alive]").text == "1"
    assert page.find_element(By.CSS_SELECTOR, "[data-throughput-total]").text == "3"
    assert "render:yearly" in page.find_element(By.XPATH, "//h2[starts-with(., 'Workers alive')]/..").text
    paused = page.find_element(By.CSS_SELECTOR, '[data-paused][data-queue="emails"]')
    assert paused.is_displayed() and paused.text == "paused"
    # two more emails, one more failure: the page shows them without being reloaded
    marker = page.execute_script("window.notReloaded = true; return window.notReloaded")
    Job.add_job(identifier="mail:2", queue_name="emails")
    Job.add_job(identifier="mail:3", queue_name="emails")
    ops.resume("emails")
    waiting = page.find_element(By.CSS_SELECTOR, '[data-queue="emails"][data-count="waiting"]')
    wait(page).until(lambda driver: waiting.text == "3")
    wait(page).until(lambda driver: not paused.is_displayed())
    total = page.find_element(By.CSS_SELECTOR, '[data-total="waiting"]')
    wait(page).until(lambda driver: total.text == "4")
    assert marker and page.execute_script("return window.notReloaded") is True
    assert page.find_element(By.ID, "refreshed").text.startswith("counts updated ")


def test_a_failed_jobs_page_shows_its_traceback_and_its_history(page, serve, data):
    base = serve(create_app(secret_key="browser"))
    page.get(base + "/")
    page.find_element(By.LINK_TEXT, "photo:bad").click()  # from the recent failures
    wait(page).until(lambda driver: driver.current_url == f"{base}/jobs/{data.bad.ident}")
    (traceback,) = page.find_elements(By.CSS_SELECTOR, "pre.traceback")
    assert traceback.text.startswith("Traceback (most recent call last):")
    assert traceback.text.endswith("ValueError: cannot read photo:bad")
    events = [row.find_elements(By.TAG_NAME, "td")[1].text
              for row in page.find_elements(By.CSS_SELECTOR, "table.history tbody tr")]
    assert events == [event["event"] for event in data.bad.events()] == ["added", "started", "failed"]
    assert page.find_element(By.CSS_SELECTOR, "h1 .status").text == "ERROR"


def test_requeue_once_the_confirm_is_accepted_makes_the_job_run_again(page, serve, data):
    base = serve(create_app(secret_key="browser"))
    worker = RecordingWorker("images")
    try:
        worker.wait_for("photo:4")  # what waited, done: the queue is idle
        page.get(f"{base}/jobs/{data.bad.ident}")
        button = page.find_element(By.CSS_SELECTOR, 'button[data-action="requeue"]')
        assert click_and_answer(page, button, accept=True) == "Requeue job photo:bad? It runs again."
        flashed(page, f"Job {data.bad.ident} requeued in images.")
        worker.wait_for("photo:bad")
    finally:
        worker.stop()
    assert worker.runs == ["photo:4", "photo:bad"]
    assert data.bad.status.hget() == STATUSES.SUCCESS and data.bad.tries.hget() == "1"
    assert [event["event"] for event in data.bad.events()][-3:] == ["requeued", "started", "succeeded"]


def test_a_destructive_action_is_done_only_once_confirmed(page, serve, data):
    base = serve(create_app(secret_key="browser"))
    page.get(f"{base}/queue?name=images")
    empty = page.find_element(By.CSS_SELECTOR, 'button[data-action="empty"]')
    question = click_and_answer(page, empty, accept=False)
    assert question == "Empty queue images? Every waiting and delayed job is canceled."
    # the next action posted from this tab: had "empty" been posted, it would have been first
    page.find_element(By.CSS_SELECTOR, 'button[data-action="pause"]').click()
    flashed(page, "Queue images paused.")
    assert ops.counts("images").waiting == 1 and ops.counts("images").delayed == 1
    empty = page.find_element(By.CSS_SELECTOR, 'button[data-action="empty"]')
    click_and_answer(page, empty, accept=True)
    flashed(page, "Queue images emptied: 2 job(s) canceled.")
    assert data.waiting.status.hget() == data.delayed.status.hget() == STATUSES.CANCELED


def test_an_identifier_with_a_script_tag_is_shown_as_text_and_runs_nothing(page, serve, data):
    base = serve(create_app(secret_key="browser"))
    ident = data.script.ident
    for path, selector in (("/", f'a[href="/jobs/{ident}"]'),  # the recent failures
                           ("/queue?name=images&state=error", f'tr[data-ident="{ident}"] td.identifier'),
                           (f"/jobs/{ident}", "h1 .identifier")):
        page.get(base + path)
        assert no_alert(page), path
        assert page.find_element(By.CSS_SELECTOR, selector).text == SCRIPT, path
        scripts = page.find_elements(By.TAG_NAME, "script")
        assert [script.get_attribute("src") for script in scripts] == [f"{base}/static/dashboard.js"], path
        assert page.find_elements(By.TAG_NAME, "img") == [], path  # the error message's <img> is text
    traceback = page.find_element(By.CSS_SELECTOR, "pre.traceback").text
    assert traceback.endswith("ValueError: <img src=x onerror=alert(2)>")
    assert no_alert(page)


def test_schedules_show_the_next_run_in_the_viewers_time_zone_and_unset_asks_first(page, serve, data):
    base = serve(create_app(secret_key="browser"))
    page.get(base + "/schedules")
    next_run = datetime.fromtimestamp(recurring.tell("report:daily")["next_run"], timezone.utc)
    shown = page.find_element(By.CSS_SELECTOR, 'tr[data-job-id="report:daily"] td.next-run time')
    assert shown.get_attribute("datetime") == next_run.isoformat()
    local = next_run.astimezone(ZoneInfo(VIEWER_TIME_ZONE))
    assert shown.text == local.strftime("%Y-%m-%d %H:%M:%S") and local.strftime("%H:%M") == "18:00"
    assert page.find_element(By.ID, "timezone").text == f"times in {VIEWER_TIME_ZONE}"
    unset = page.find_element(By.CSS_SELECTOR, 'tr[data-job-id="report:daily"] button[data-action="unset"]')
    assert click_and_answer(page, unset, accept=True) == "Remove the schedule of report:daily?"
    flashed(page, "Schedule report:daily removed.")
    assert recurring.schedules() == [] and "No recurring schedule" in page.page_source


# --- screenshots


def _throughput_history(minutes: int = 60) -> None:
    """Jobs of the thumbnails queue that succeeded over the last hour, a few every minute or two,
    run by real (clocked) workers at those times."""
    now = SYSTEM_CLOCK.now()
    clock = ManualClock(now - timedelta(minutes=minutes))
    previous, BaseJobsModel.clock = BaseJobsModel.clock, clock
    try:
        for minute in range(0, minutes, 2):
            clock.advance(now.timestamp() - (minutes - minute) * 60 - clock.time())
            for number in range(2 + (minute * 7) % 5 + (minute // 12)):
                Job.add_job(identifier=f"thumb:{minute}:{number}", queue_name="thumbnails")
            ClockedWorker("thumbnails", callback=lambda job, queue: None, burst=True,
                          terminate_gracefuly=False).run()
    finally:
        BaseJobsModel.clock = previous


def _full_page(browser: WebDriver, path: Path) -> bytes:
    """A screenshot of the whole page: the viewport made as tall as the page (at most 2400 px)."""
    def viewport(height: int) -> None:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})

    viewport(600)
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    viewport(min(height, 2400))
    try:
        browser.save_screenshot(str(path))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path.read_bytes()


def test_screenshots_of_the_main_pages_on_realistic_data(page, serve, data, tmp_path, make_worker):
    _throughput_history()
    for number in range(4):
        Job.add_job(identifier=f"export:{number}", queue_name="exports", delayed_for=600 * (number + 1))
    Job.add_job(identifier="invoice:2026-11", queue_name="exports", priority=5)
    data.bad.requeue("images")  # failed twice: two errors, a longer history
    make_worker("images", callback=_fail_bad, burst=True).run()
    recurring.set_schedule("cleanup:hourly", "RRULE:FREQ=HOURLY;BYMINUTE=15")
    recurring.set_schedule("digest:weekly", "DTSTART;TZID=Europe/Paris:20260105T080000\nRRULE:FREQ=WEEKLY")
    idle = RecordingWorker("emails")  # emails is paused: it waits
    # a worker of another host that stopped beating five minutes ago
    beat.call(Job.database, worker="batch-2:5f1c", now_score=SYSTEM_CLOCK.time() - 300,
              fields={"host": "batch-2", "pid": 2817, "queues": "exports", "mode": "prefork",
                      "started": str((SYSTEM_CLOCK.now() - timedelta(hours=3)).replace(tzinfo=None))})
    try:
        base = serve(create_app(secret_key="browser"))
        directory = ROOT / "docs" if os.environ.get(SCREENSHOTS_VARIABLE) == "1" else tmp_path
        shots = {"overview": "/", "queue": "/queue?name=images&state=error", "job": f"/jobs/{data.bad.ident}",
                 "workers": "/workers", "schedules": "/schedules"}
        wait(page).until(lambda driver: len([worker for worker in ops.workers() if worker.alive]) == 2)
        for name, path in shots.items():
            page.get(base + path)
            wait(page).until(lambda driver: driver.find_element(By.ID, "timezone").text != "times in UTC")
            image = _full_page(page, directory / f"dashboard-{name}.png")
            assert image[:8] == b"\x89PNG\r\n\x1a\n", name
            width, height = struct.unpack(">II", image[16:24])
            assert width == WIDTH and height >= 600 and len(image) > 20_000, name
    finally:
        idle.stop()
    page.get(f"{base}/jobs/{data.bad.ident}")
    assert len(page.find_elements(By.CSS_SELECTOR, "pre.traceback")) == 2


def _fail_bad(job: Job, queue: Queue) -> Any:
    if "bad" in job.identifier.hget():
        raise ValueError(f"cannot read {job.identifier.hget()}: the file is truncated")
