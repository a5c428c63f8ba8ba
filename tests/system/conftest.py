"""Every test here starts from an empty database on the private Redis, and is slow: it starts
processes (workers, pools, Django, a browser) or runs chaos."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def empty_database(database):
    return database


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
