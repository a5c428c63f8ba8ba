"""Sphinx configuration of the limpyd-jobs documentation: ``sphinx-build -W docs docs/_build/html``."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.dirname(HERE))

from limpyd_jobs.constants import __version__  # noqa: E402

project = "limpyd-jobs"
author = "limpyd-jobs contributors"
copyright = "limpyd-jobs contributors"  # noqa: A001
release = version = __version__

extensions = ["sphinx.ext.autodoc", "myst_parser", "worker_options"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]

html_theme = "furo"
html_title = f"limpyd-jobs {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True}
