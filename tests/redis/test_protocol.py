"""The Redis protocol: wrappers match their scripts, scripts load, keys are named in one place."""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from pathlib import Path

import pytest
from sample_jobs import NamedQueue

import limpyd_jobs
from limpyd_jobs import Job, Queue
from limpyd_jobs.protocol import KEYS, Keys
from limpyd_jobs.protocol.loader import Header, LuaScript, expand_keys, link
from limpyd_jobs.protocol.vocabulary import LUA_ENUMS, STATUSES, key_table
from limpyd_jobs.recurring.scheduler import RecurringSchedule, Timeline

PACKAGE = Path(limpyd_jobs.__file__).parent
SCRIPTS = PACKAGE / "protocol" / "scripts"
NAMES = sorted(path.stem for path in SCRIPTS.glob("*.lua"))


def test_every_script_has_a_wrapper_and_every_wrapper_a_script():
    wrappers = sorted(path.stem for path in SCRIPTS.glob("*.py") if path.stem != "__init__")
    assert wrappers == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_a_wrapper_takes_the_arguments_its_script_declares(name):
    module = importlib.import_module(f"limpyd_jobs.protocol.scripts.{name}")
    header = module.SCRIPT.header
    assert module.SCRIPT.name == name
    parameters = list(inspect.signature(module.call).parameters)
    assert parameters[0] == "database"
    expected = ([parameters[1]] if header.keys else []) + list(header.argv)
    expected += [header.argv_rest] if header.argv_rest else []
    assert parameters[1:] == expected, f"{name}.py's call() does not follow the ARGV line of {name}.lua"
    result = typing.get_type_hints(module.call)["return"]
    if hasattr(result, "_fields"):  # a NamedTuple: its fields start with the RETURNS names
        assert list(result._fields[:len(header.returns)]) == list(header.returns)


@pytest.mark.parametrize("name", NAMES)
def test_every_script_compiles_in_redis(name, connection):
    source = LuaScript(name).source
    assert connection.script_load(source)
    # Lua allows 200 locals in a chunk: the linked definitions must stay well below
    assert len(re.findall(r"^local ", source, re.MULTILINE)) < 120


def test_the_loader_writes_the_vocabulary_a_script_uses():
    source = LuaScript("take").source
    assert "local WAITING = 'w'" in source and "local TAKE_RUN = 'run'" in source
    assert "('limpyd-jobs:worker:' .. (worker) .. ':running')" in source  # a key, written out
    assert "local worker, now_str, now_score, want_counts, pass_on = ARGV[1], ARGV[2]" in source
    assert "local function purge" not in source and "key_control" not in source  # only what it uses


def test_key_calls_are_written_as_the_concatenation_of_their_template():
    assert expand_keys("x = key_queue_list(key_queue(m, pk), 'waiting')") == (
        "x = ((((m) .. ':' .. (pk))) .. ':' .. ('waiting'))")
    assert expand_keys("key_control()") == "('limpyd-jobs:control')"
    with pytest.raises(ValueError, match="takes worker"):
        expand_keys("key_running(a, b)")
    with pytest.raises(ValueError, match="no such key template"):
        expand_keys("key_nope(a)")


def test_a_header_reads_names_and_the_rest():
    header = Header.parse("-- Do it.\n-- KEYS: lists\n-- ARGV: a, b, rest...\n-- RETURNS: x, y, [z]...\nbody")
    assert (header.summary, header.keys, header.argv, header.argv_rest, header.returns) == (
        "Do it.", "lists", ("a", "b"), "rest", ("x", "y"))


def test_key_templates_name_the_keys_limpyd_uses(database):
    job = Job.add_job(identifier="job:1", queue_name="q")
    full = Job(job.pk.get())  # built by limpyd, not by our fast path
    queue = NamedQueue.get_queue("q")
    assert KEYS.hash(model=Job._name, pk=full.pk.get()) == full.key
    assert KEYS.collection(model=Job._name) == Job._redis_attr_pk.collection_key
    assert KEYS.index(model=Job._name, field="identifier", value="job:1") == (
        full.get_field("identifier").get_index().get_storage_key("job:1"))
    assert KEYS.max_pk(model=Job._name) in database.connection.keys("jobs:job:*")
    queue_name = KEYS.queue(model=NamedQueue._name, pk=queue.pk.get())
    assert KEYS.queue_list(queue=queue_name, list="waiting") == queue.waiting.key
    assert KEYS.field(model=NamedQueue._name, pk=queue.pk.get(), field="delayed") == queue.delayed.key
    assert job.queue_key.hget() == KEYS.queue(model=Queue._name, pk=Queue.get_queue("q").pk.get())
    assert KEYS.field(model=Timeline._name, pk="all", field="runs") == Timeline(name="all").runs.key
    assert KEYS.hash(model=RecurringSchedule._name, pk="a:q") == RecurringSchedule(job_id="a:q").key


def test_keys_take_a_prefix_and_refuse_odd_ones():
    assert Keys("myapp").running(worker="w1") == "myapp:worker:w1:running"
    with pytest.raises(ValueError, match="prefix"):
        Keys("my app{x}")


def _fragments() -> set[str]:
    """The literal parts of the key templates, such as ':hash' or ':running'."""
    found = set()
    for template in Keys.templates():
        for piece in re.split(r"\{\w+\}", template.template):
            if len(piece.strip(":")) > 1:
                found.add(piece)
    return found


def test_no_key_name_is_spelled_outside_the_vocabulary():
    fragments = _fragments()
    assert {":hash", ":running", ":workers", ":job-models", ":control"} <= fragments
    offenders = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".py", ".lua") or path.name == "vocabulary.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("--")[0] if path.suffix == ".lua" else line.split("#")[0]
            quoted = re.findall(r"'[^']*'|\"[^\"]*\"", code)
            offenders += [f"{path.relative_to(PACKAGE)}:{number}: {text}" for text in quoted
                          for fragment in fragments if fragment in text]
    assert offenders == []


def test_the_architecture_page_lists_the_keys_of_the_vocabulary():
    page = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text()
    start = "<!-- keys: generated by python -m limpyd_jobs.protocol -->\n"
    block = page.split(start)[1].split("<!-- /keys -->")[0]
    assert block == key_table(), "run `python -m limpyd_jobs.protocol` and paste its table into the page"


def test_a_name_in_a_comment_links_nothing():
    source = LuaScript("add_job").source  # lib/queues.lua's wake_up mentions take_next in a comment
    assert "local function take_next" not in source


_CALL = re.compile(r"[\w.:]+\([^()]*\)")
_LITERAL = re.compile(r"'([^']*)'")


def _returned_words(source: str) -> set[str]:
    """The quoted words a Lua source returns: in a return statement (not in a call, a comparison
    or a concatenation), or assigned to a name that one returns (through other names too)."""
    literals: list[str] = []

    def placeholder(found: re.Match) -> str:
        literals.append(found.group(1))
        return f"_literal{len(literals) - 1}_"

    code = _LITERAL.sub(placeholder, re.sub(r"--[^\n]*", "", source))
    code = re.sub(r"\w+\s*(==|~=|\.\.)\s*\w+", "", code)  # a comparison, a concatenation
    pending: set[str] = set()
    for expression in re.findall(r"\breturn\b([^\n]*)", code):
        while _CALL.search(expression):
            expression = _CALL.sub("", expression)
        pending.update(re.findall(r"\b[A-Za-z_]\w*\b", expression))
    returned: set[str] = set()
    while pending:
        name = pending.pop()
        returned.add(name)
        assigned = re.findall(rf"(?:^|[\s;(])(?:local\s+)?{name}\s*=(?!=)\s*([A-Za-z_]\w*)\b", code,
                              re.MULTILINE)
        pending.update(set(assigned) - returned)
    return {literals[int(name[8:-1])] for name in returned if re.fullmatch(r"_literal\d+_", name)}


def test_the_words_a_script_returns_are_found():
    source = ("local outcome = 'x' -- 'c'\nif a then outcome = 'y' end\n"
              "return {outcome, redis.call('GET', k), 'z'}")
    assert _returned_words(source) == {"x", "y", "z"}


@pytest.mark.parametrize("name", NAMES)
def test_every_word_a_script_returns_is_in_the_vocabulary(name):
    words = {*STATUSES.values(), *(member.value for enum in LUA_ENUMS.values() for member in enum), ""}
    script = LuaScript(name)
    source = link((SCRIPTS / f"{name}.lua").read_text())  # the lib blocks it uses, keys as calls
    assert _returned_words(source) <= words, f"{name}.lua returns a word of its own"
    assert script.source  # loads
