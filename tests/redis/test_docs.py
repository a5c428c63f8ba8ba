"""The documentation's code: the samples of docs/ marked runnable run against the private Redis,
and the worker options table is made from the settings declarations."""

from __future__ import annotations

import re
import signal
import sys
import textwrap
import types
from pathlib import Path

import pytest
from helpers import ROOT

DOCS = ROOT / "docs"
#: A runnable sample: ``.. code-block:: python`` with the option ``:class: runnable``.
SAMPLE = re.compile(r"^\.\. code-block:: python\n((?:   :[\w-]+:.*\n)+)\n((?:(?:    .*)?\n)+)", re.MULTILINE)


def runnable_samples(page: Path) -> list[str]:
    """The runnable samples of a page, in order, dedented."""
    return [textwrap.dedent(match.group(2)) for match in SAMPLE.finditer(page.read_text())
            if re.search(r":class:.*\brunnable\b", match.group(1))]


PAGES = sorted(page for page in DOCS.glob("*.rst") if runnable_samples(page))


def test_the_pages_that_teach_the_basics_have_runnable_samples():
    assert {page.stem for page in PAGES} >= {"getting-started", "jobs", "testing", "tracing"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.stem)
def test_the_runnable_samples_of_a_page_run(page, database, capsys):
    """Each page's samples run in order in one module of their own (a later one may use what an
    earlier one defined), as a reader would paste them; what a ``# prints: TEXT`` comment
    announces is printed."""
    module = types.ModuleType(f"limpyd_jobs_docs_{page.stem.replace('-', '_')}")
    sys.modules[module.__name__] = module  # models defined in the samples are importable by name
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        for number, sample in enumerate(runnable_samples(page), 1):
            code = compile(sample, f"{page.name} (sample {number})", "exec")
            exec(code, module.__dict__)  # noqa: S102 - the project's own documentation
            printed = capsys.readouterr().out
            for announced in re.findall(r"# prints: (.*)", sample):
                assert announced.strip() in printed, f"sample {number} did not print {announced!r}"
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        sys.modules.pop(module.__name__, None)


def test_the_worker_options_table_has_every_option_with_its_default():
    pytest.importorskip("sphinx")  # the docs extra; CI builds the site after the tests, with it
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import worker_options
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from limpyd_jobs.workers.settings import SETTINGS

    rows = worker_options.rows()
    assert len(rows) == len(SETTINGS)
    by_flag = {row[0]: row for row in rows}
    assert by_flag["``--max-loops``"][1:3] == ("``LIMPYD_JOBS_MAX_LOOPS``", "``1000``")
    assert by_flag["``--save-errors``, ``--no-save-errors``"][2] == "on"
    assert by_flag["``observers`` (Python only)"][1] == ""
    source = "\n".join(worker_options.table_source())
    for setting in SETTINGS:
        assert setting.metadata["help"].split("`")[0] in source
