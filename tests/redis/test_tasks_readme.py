"""The README's Tasks example runs as written, against a worker running meanwhile."""

from __future__ import annotations

import textwrap

from helpers import ROOT

README = ROOT / "README.rst"


def tasks_example() -> str:
    """The code of the README's Tasks section."""
    section = README.read_text().split("\nTasks\n~~~~~\n", 1)[1]
    block = section.split(".. code-block:: python\n", 1)[1].split("\nand run them with", 1)[0]
    return textwrap.dedent(block)


def test_the_readme_tasks_example_runs(make_worker, threads, capsys):
    code = tasks_example()
    assert "add.enqueue(2, 3)" in code and "get_result(result.id)" in code
    worker = make_worker(queues="default", max_loops=0)
    threads.start(worker.run)
    try:
        exec(compile(code, str(README), "exec"), {"__name__": "myapp.tasks"})  # as the module myapp.tasks
    finally:
        worker.end_forced = True
        worker.waiter.cut()
    threads.join()
    printed = capsys.readouterr().out.split()
    assert printed[0] == "1" and printed[-1] == f"['{worker.id}']"  # attempts ... worker_ids
