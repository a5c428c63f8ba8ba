"""``settings.LIMPYD_JOBS`` read as ``limpyd-jobs-worker`` arguments.

The dict holds worker options by their option names (``queues``, ``callback``, ``max_loops``...,
the names of ``limpyd-jobs-worker --help``'s flags with ``_`` for ``-``). Each becomes its flag:
``{"queues": ["a", "b"], "requeue_times": 3, "save_errors": False}`` gives ``--queues=a,b
--requeue-times=3 --no-save-errors``. None leaves an option to its default. Nothing here needs
Django to be set up.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import Field
from typing import Any

from limpyd_jobs.cli.config import OPTIONS
from limpyd_jobs.exceptions import ConfigurationException
from limpyd_jobs.workers.settings import boolean, flag

#: The name of the Django setting.
SETTING_NAME = "LIMPYD_JOBS"
#: The options the setting may hold, by name.
OPTIONS_BY_NAME: dict[str, Field] = {setting.name: setting for setting in OPTIONS}
#: How the items of a list are joined for an option, when not by ",".
SEPARATORS = {"queue_cycle": ":"}


def check_keys(config: Any) -> None:
    """Raise ConfigurationException unless ``config`` is a dict whose keys are all options,
    naming the unknown keys (and the option meant, when one is close)."""
    if not isinstance(config, Mapping):
        raise ConfigurationException(
            f"settings.{SETTING_NAME} must be a dict of worker options, not {type(config).__name__}")
    unknown = [key for key in config if key not in OPTIONS_BY_NAME]
    if not unknown:
        return
    described = []
    for key in unknown:
        close = difflib.get_close_matches(str(key).replace("-", "_"), OPTIONS_BY_NAME, n=1)
        described.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    raise ConfigurationException(
        f"settings.{SETTING_NAME} has unknown key{'s' if len(unknown) > 1 else ''}: {', '.join(described)}; "
        f"its keys are the options of limpyd-jobs-worker: {', '.join(OPTIONS_BY_NAME)}")


def settings_arguments(config: Mapping[str, Any]) -> list[str]:
    """The ``limpyd-jobs-worker`` arguments that give the options of ``config``
    (ConfigurationException for an unknown key or a value that is not a boolean where one is needed)."""
    check_keys(config)
    arguments: list[str] = []
    for name, value in config.items():
        if value is not None:
            arguments += _arguments(OPTIONS_BY_NAME[name], value)
    return arguments


def _arguments(setting: Field, value: Any) -> list[str]:
    meta, option = setting.metadata, flag(setting)
    if meta["switch"] or setting.default is False:  # on/off options
        try:
            on = boolean(value)
        except ValueError as exc:
            raise ConfigurationException(f"settings.{SETTING_NAME}[{setting.name!r}]: {exc}") from None
        negative = "--no-" + option[2:]
        if meta["switch"] and meta["only_negative"]:
            return [] if on else [negative]
        if meta["switch"]:
            return [option if on else negative]
        return [option] if on else []
    return [f"{option}={_text(setting, value)}"]  # "=": a value starting with "-" stays a value


def _text(setting: Field, value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return SEPARATORS.get(setting.name, ",").join(_text(setting, item) for item in value)
    if isinstance(value, type) or inspect.isfunction(value):  # given as itself: its dotted path
        return f"{value.__module__}.{value.__qualname__}"
    return str(value)
