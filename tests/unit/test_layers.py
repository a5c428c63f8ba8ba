"""The package's layers, read from its source: imports go down and never in a circle, only orm.py
touches limpyd's and redis-py's private attributes, and the worker writes through its parts."""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import NamedTuple

PACKAGE = "limpyd_jobs"

#: From the bottom up. A module sits in the layer of the longest entry that is its dotted name (under
#: limpyd_jobs) or a package of it; "" is limpyd_jobs/__init__.py. It may import its layer and those below.
LAYERS: tuple[tuple[str, ...], ...] = (
    # the errors, the shards, how to reach Redis (URLs, Sentinel, a Cluster's slot), riding out its outages
    ("exceptions", "constants", "version", "shards", "connection", "cluster", "outages"),
    ("protocol", "orm"),  # the Redis contract; orm: the door into limpyd and redis-py scripts go through
    ("validation", "clock", "utils", "logs", "due", "history", "script_fields"),
    # "": the package's face (Queue, Job, Error, STATUSES, __version__, and the tasks, loaded when asked
    # for); tasks: a task's job is a Job subclass, run by any worker (it imports no worker part)
    ("models", "databases", "", "tasks"),
    ("workers", "operations", "recurring", "pending", "metrics", "tracing"),
    ("dashboard",),  # the web application
    ("cli", "dashboard.cli", "contrib", "testing"),  # commands, and the kit for tests and demos
)

#: The only imports allowed to go up: the lazy re-exports the seed documents (``from limpyd_jobs import
#: Worker``, ``from limpyd_jobs.workers import WorkerConfig``), each made in a module ``__getattr__``.
SEED_REEXPORTS = {
    ("limpyd_jobs", "limpyd_jobs.workers"),
    ("limpyd_jobs.workers", "limpyd_jobs.cli.config"),
}

#: Lazy entry points a lower module documents, importing a higher one only when called: none other.
LAZY_ENTRY_POINTS = {
    # Job.add_job_on_commit (documented): Django's on_commit lives in contrib/django, imported when called
    ("limpyd_jobs.models", "limpyd_jobs.contrib.django.transactions"),
}

#: limpyd's one private name read everywhere: a model's key prefix (``jobs:job``), which it has no
#: public name for and which every stored key is built on.
LIMPYD_MODEL_NAME = "_name"


class Import(NamedTuple):
    importer: str
    imported: str
    line: int
    lazy: bool  # inside a function


def _source_root(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


def _module_name(root: Path, path: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    root = _source_root(PACKAGE)
    return {_module_name(root, path): path for path in sorted(root.rglob("*.py"))}


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(), str(modules()[name]))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST, lazy: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import under ``node``, function-level ones included, ``if TYPE_CHECKING:`` ones left out."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, lazy
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes(ast.Module(body=[other], type_ignores=[]), lazy)
        else:
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from _import_nodes(child, inner)


def _targets(name: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    # ``from package import module`` imports the module; ``from module import name``, the module
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base for alias in node.names]


@cache
def imports() -> tuple[Import, ...]:
    found = []
    for name in modules():
        for node, lazy in _import_nodes(tree(name)):
            for target in _targets(name, node):
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    while target not in modules():  # ``import limpyd_jobs.x.y`` of a name, not a module
                        target = target.rpartition(".")[0]
                    if target != name:
                        found.append(Import(name, target, node.lineno, lazy))
    return tuple(found)


def layer(module: str) -> int:
    relative = module.removeprefix(PACKAGE).removeprefix(".")
    matches = [(len(entry), index) for index, entries in enumerate(LAYERS) for entry in entries
               if entry == relative or (entry and relative.startswith(entry + "."))]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def test_every_module_has_a_layer():
    for module in modules():
        layer(module)


def test_the_layers_go_from_the_protocol_to_the_commands():
    order = ["protocol.vocabulary", "clock", "models", "workers.worker", "dashboard.app", "cli.admin"]
    assert [layer(f"{PACKAGE}.{name}") for name in order] == sorted({layer(f"{PACKAGE}.{n}") for n in order})


def test_imports_go_down():
    upward = {(found.importer, found.imported): found for found in imports()
              if layer(found.imported) > layer(found.importer)}
    unexpected = [f"{found.importer} (line {found.line}) imports {found.imported}"
                  for pair, found in sorted(upward.items())
                  if pair not in SEED_REEXPORTS | LAZY_ENTRY_POINTS]
    assert not unexpected, "imports going up:\n" + "\n".join(unexpected)


def test_the_seed_reexports_and_entry_points_are_lazy():
    for importer, imported in SEED_REEXPORTS | LAZY_ENTRY_POINTS:
        made = [found for found in imports() if (found.importer, found.imported) == (importer, imported)]
        assert made and all(found.lazy for found in made), f"{importer} must import {imported} when asked"


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return circles


def test_no_import_circle():
    edges: dict[str, set[str]] = {}
    for found in imports():
        if (found.importer, found.imported) not in SEED_REEXPORTS | LAZY_ENTRY_POINTS:
            edges.setdefault(found.importer, set()).add(found.imported)
    assert _circles(edges) == []


def test_the_circle_finder_finds_circles():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# --- private attributes


def _own_names() -> set[str]:
    """Private names limpyd_jobs defines outside orm.py: functions, classes, class attributes, and
    attributes set on ``self`` or ``cls``."""
    names = set()
    for module in modules():
        if module == f"{PACKAGE}.orm":
            continue
        for node in ast.walk(tree(module)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                if isinstance(node, ast.ClassDef):
                    for statement in node.body:
                        for target in getattr(statement, "targets", [getattr(statement, "target", None)]):
                            if isinstance(target, ast.Name):
                                names.add(target.id)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                names.add(node.attr)
    return names


@cache
def _foreign_source() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for package in ("limpyd", "redis")
                     for path in sorted(_source_root(package).rglob("*.py")))


def defined_by_limpyd_or_redis(names: set[str]) -> set[str]:
    """Those of ``names`` that limpyd or redis-py define: a function or class, an attribute set on
    an object, or a class attribute."""
    return {name for name in names if re.search(
        rf"(?:def|class) {name}\b|\.{name} *(?::[^=\n]*)?=(?!=)|^    {name} *(?::[^=\n]*)?=(?!=)",
        _foreign_source(), re.MULTILINE)}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_access() -> set[tuple[str, str]]:
    """(module, name) for each ``x._name`` or ``getattr(x, "_name")`` outside orm.py where limpyd or
    redis-py define ``_name`` and limpyd_jobs does not."""
    found = set()
    for module in modules():
        if module == f"{PACKAGE}.orm":
            continue
        for node in ast.walk(tree(module)):
            if isinstance(node, ast.Attribute):
                found.add((module, node.attr))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1
                  and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                found.add((module, node.args[1].value))
    private = {name for _, name in found if _private(name)} - _own_names() - {LIMPYD_MODEL_NAME}
    foreign = defined_by_limpyd_or_redis(private)
    return {(module, name) for module, name in found if name in foreign}


def test_the_rule_knows_the_private_names_orm_hides():
    names = {"_sock", "_pk", "_available_connections", "_redis_attr_pk", "_no_such_name"}
    assert defined_by_limpyd_or_redis(names) == names - {"_no_such_name"}


def test_only_orm_touches_private_attributes_of_limpyd_and_redis():
    found = sorted(private_access())
    assert not found, "private attributes of limpyd or redis-py used outside orm.py:\n" + "\n".join(
        f"{module}: .{attribute}" for module, attribute in found)


# --- the worker


def test_the_worker_calls_no_script_itself():
    scripts = f"{PACKAGE}.protocol.scripts"
    worker = f"{PACKAGE}.workers.worker"
    found = {imported.imported for imported in imports() if imported.importer == worker
             and (imported.imported == scripts or imported.imported.startswith(scripts + "."))}
    found |= {scripts for node in ast.walk(tree(worker))
              if isinstance(node, ast.Attribute) and node.attr == "scripts"}
    assert not found, "the worker's parts call the scripts"
