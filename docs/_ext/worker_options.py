"""``.. worker-options::``: the table of every worker option, made from the declarations in
``limpyd_jobs.workers.settings`` at each build, so that it cannot drift from the code."""

from __future__ import annotations

import logging
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from limpyd_jobs.workers.settings import SETTINGS, flag

#: What the table says of defaults whose value tells nothing.
DEFAULT_TEXTS = {"callback": "each job's ``run``", "clock": "the queue model's"}


def default_text(value: Any) -> str:
    """How a default reads in the table."""
    if value is None or value == () or value == []:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, type):
        return f"``{value.__module__}.{value.__qualname__}``"
    if isinstance(value, int) and value in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        return logging.getLevelName(value)
    return f"``{value}``"


def flag_text(setting: Any) -> str:
    """The option's flags (``--name`` / ``--no-name`` for a switch), or that it is Python only."""
    if not setting.metadata["cli"]:
        return f"``{setting.name}`` (Python only)"
    name = flag(setting)
    if setting.metadata["switch"]:
        negative = "--no-" + name[2:]
        return f"``{negative}``" if setting.metadata["only_negative"] else f"``{name}``, ``{negative}``"
    return f"``{name}``"


def rows() -> list[tuple[str, str, str, str]]:
    """(flags, environment variable, default, meaning) of each option, in declaration order."""
    found = []
    for setting in SETTINGS:
        variable = f"``LIMPYD_JOBS_{setting.name.upper()}``" if setting.metadata["cli"] else ""
        default = DEFAULT_TEXTS.get(setting.name) or default_text(setting.default)
        found.append((flag_text(setting), variable, default,
                      setting.metadata["help"].replace("`", "``").replace("````", "``")))
    return found


def table_source() -> list[str]:
    """The options as a reST list-table."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 25 25 15 35", "",
             "   * - Option", "     - Environment", "     - Default", "     - Meaning"]
    for row in rows():
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell or ' '}" for cell in row[1:])
    return lines


class WorkerOptions(SphinxDirective):
    """The table of the worker's options."""

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(table_source(), source="limpyd_jobs/workers/settings.py"),
                                self.content_offset, container)
        return container.children


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("worker-options", WorkerOptions)
    return {"parallel_read_safe": True, "version": "1"}
