"""Every test here starts from an empty database on the private Redis."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def empty_database(database):
    return database
