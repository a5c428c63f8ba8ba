"""What the scripts know of a Job model's fields: those add_job may write, those a purge deletes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from limpyd import fields
from limpyd.indexes import EqualIndex

from . import orm
from .validation import clean_timeout


def has_plain_index(field: Any) -> bool:
    """Whether a field has no index but limpyd's EqualIndex (one the scripts keep in step), or
    a ScannedIndex (nothing to keep)."""
    plain = (EqualIndex, orm.ScannedIndex)
    return not field.indexable or all(index in plain for index in field.index_classes)


def free_fields(model: Any) -> dict[str, tuple[Any, bool]]:
    """Fields add_job may set (name -> (field, whether add_job.lua can write it: a plain
    InstanceHashField, not unique, with a plain index)), computed once per model."""
    cache = model.__dict__.get("_free_fields_cache")
    if cache is None:
        cache = {
            field.name: (field, type(field) is fields.InstanceHashField and not field.unique
                         and has_plain_index(field))
            for field in model.get_class_fields()
            if field.name not in model._managed_fields and field is not orm.pk_field(model)
        }
        model._free_fields_cache = cache
    return cache


def script_fields_args(model: Any, values: dict[str, Any]) -> list[Any]:
    """The free fields of a new job as add_job.lua takes them: (name, value, indexed) threes,
    the value given or the field's default (a field with neither is left out)."""
    args: list[Any] = []
    for name, (field, _) in free_fields(model).items():
        value = values[name] if name in values else getattr(field, "default", None)
        if value is not None:
            args += [name, value, int(field.indexable and orm.ScannedIndex not in field.index_classes)]
    return args


def fields_of_new_job(model: Any, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any] | None]:
    """The subclass fields of a new job: for add_job.lua, as (name, value, indexed) threes, when
    it can write them all (a list shared between calls when only defaults apply: do not change
    it); else None and the values for limpyd to write (it writes defaults itself)."""
    if not values:  # the usual case, the same at every call: computed once
        defaults = model.__dict__.get("_default_fields_args")
        if defaults is None:
            defaults = model._default_fields_args = _fields_given(model, {})
        return defaults
    return _fields_given(model, values)


def _fields_given(model: Any, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any] | None]:
    free = free_fields(model)
    for name in values:
        if name not in free:
            raise ValueError(f"add_job cannot set {name!r}: it is not a field of {model.__name__} "
                             "that add_job leaves to the caller")
    if "timeout" in values and values["timeout"] is not None:
        values = {**values, "timeout": clean_timeout(values["timeout"])}
    if any(not script_writes and (name in values or hasattr(field, "default"))
           for name, (field, script_writes) in free.items()):
        return [], values
    return script_fields_args(model, values), None


def purge_descriptions(models: Iterable[Any]) -> dict[str, dict[str, list[str]]]:
    """For purge_finished.lua: the index and key fields of each model it can delete (models with
    indexes other than limpyd's EqualIndex are left alone)."""
    descriptions = {}
    for model in models:
        indexed, keys = [], []
        for field in model.get_class_fields():
            if field is orm.pk_field(model):
                continue
            if not isinstance(field, fields.InstanceHashField):
                keys.append(field.name)
            if field.indexable:
                indexed.append(field.name)
        if all(has_plain_index(model.get_class_field(name)) for name in indexed) and not any(
                model.get_class_field(name).indexable for name in keys):
            descriptions[model._name] = {"indexed": indexed, "keys": keys}
    return descriptions
