"""The version, where redis-limpyd-jobs 2 kept it: ``EXACT_VERSION`` text, ``VERSION`` numbers."""

from .constants import __version__

#: The version, as text (``limpyd_jobs.__version__``).
EXACT_VERSION: str = __version__
#: Its numeric parts: ``(3, 0, 0)`` for ``3.0.0.dev0``.
VERSION: tuple[int, ...] = tuple(int(part) for part in EXACT_VERSION.split(".") if part.isdigit())
