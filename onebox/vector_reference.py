"""Check a parsed Vector configuration against Vector's documented options.

The facts (``vector/reference/*.json``, with their provenance in that folder's README) give,
for each option path of the ``kafka`` source, the ``aws_s3`` sink and the global options,
its type, whether it is required, its allowed values and when it applies. Both components
reject unknown keys (serde ``deny_unknown_fields``), so an unknown key is a problem here too.

The tables describe Vector 0.58.0 (unreleased master); ``drift-0.57.json`` lists what 0.57.0,
the release we target, lacks, so a key only 0.58 knows is reported.

Pure: a configuration and the facts in, a list of problems out (empty when all is well).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onebox.vector_config import REFERENCE_DIR

TARGET_VERSION = "0.57.0"

# Which fact table describes a component, by its `type`.
COMPONENT_TABLES = {
    ("sources", "kafka"): "kafka_source",
    ("sinks", "aws_s3"): "aws_s3_sink",
    # The Kafka host's second Vector (infra/host/host-logs.toml); tables taken at tag v0.57.0.
    ("sources", "journald"): "journald_source",
    ("sinks", "aws_cloudwatch_logs"): "aws_cloudwatch_logs_sink",
}
_COMPONENT_KINDS = ("sources", "sinks", "transforms", "enrichment_tables", "secret")

# Caveats of the reference README, "Caveats (flattening in the generated docs)": the
# generated docs mark these required without saying when.
_REQUIRED_ONLY_WHEN = {"buffer.max_size": 'type = "disk"'}  # a disk buffer must have a size
_STRATEGY_PREFIX = "auth."  # auth.* fields are required only within their own strategy

_CONDITION = re.compile(r'^\s*(\w+)\s*=\s*"([^"]*)"\s*$')
_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "uint": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    # TOML writes 60 and 60.0 differently; Vector takes either for a float option.
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "ascii_char": lambda v: isinstance(v, str) and len(v) == 1 and v.isascii(),
    "*": lambda v: True,
}


@dataclass(frozen=True, slots=True)
class Table:
    """One fact table: option path -> facts, plus what the target version lacks."""

    name: str
    facts: Mapping[str, Mapping[str, Any]]
    absent: frozenset[str]
    enum_absent: Mapping[str, frozenset[str]]
    optional: frozenset[str]

    def entry(self, path: tuple[str, ...]) -> Mapping[str, Any] | None:
        """The facts of a concrete path, matching ``*`` segments; the most specific wins."""
        exact = self.facts.get(".".join(path))
        if exact is not None:
            return exact
        best: tuple[int, Mapping[str, Any]] | None = None
        for key, facts in self.facts.items():
            parts = key.split(".")
            if len(parts) != len(path):
                continue
            if all(p == "*" or p == q for p, q in zip(parts, path, strict=True)):
                wildcards = parts.count("*")
                if best is None or wildcards < best[0]:
                    best = (wildcards, facts)
        return None if best is None else best[1]

    def children(self, parent: tuple[str, ...]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """Entries directly below ``parent`` (which may hold ``*`` segments)."""
        depth = len(parent) + 1
        for key, facts in self.facts.items():
            parts = key.split(".")
            if len(parts) == depth and all(
                p == q or p == "*" for p, q in zip(parts[:-1], parent, strict=True)
            ):
                yield parts[-1], facts

    def has_children(self, parent: tuple[str, ...]) -> bool:
        return next(self.children(parent), None) is not None


@dataclass(frozen=True, slots=True)
class Reference:
    tables: Mapping[str, Table]
    version: str


def load_reference(directory: Path = REFERENCE_DIR, target: str = TARGET_VERSION) -> Reference:
    drift_path = directory / f"drift-{'.'.join(target.split('.')[:2])}.json"
    drift = json.loads(drift_path.read_text()) if drift_path.exists() else {}
    tables = {}
    for name in (*COMPONENT_TABLES.values(), "global"):
        facts = json.loads((directory / f"{name}.json").read_text())
        lacks = drift.get(name, {})
        tables[name] = Table(
            name=name,
            facts=facts,
            absent=frozenset(lacks.get("absent", ())),
            enum_absent={k: frozenset(v) for k, v in lacks.get("enum_absent", {}).items()},
            optional=frozenset(lacks.get("optional", ())),
        )
    return Reference(tables=tables, version=target)


def check(config: Mapping[str, Any], reference: Reference) -> list[str]:
    """Every problem Vector would find with these keys, each naming the key."""
    problems: list[str] = []
    top = reference.tables["global"]
    for key, value in config.items():
        if key in _COMPONENT_KINDS:
            if not isinstance(value, dict):
                problems.append(f"{key}: expected a table of components")
                continue
            for component_id, component in value.items():
                problems.extend(_check_component(key, component_id, component, reference))
            continue
        problems.extend(_check_value(top, (key,), value, f"{key}", reference.version))
    problems.extend(_check_inputs(config))
    return problems


def _check_component(kind: str, component_id: str, component: Any, reference: Reference) -> list[str]:
    where = f"{kind}.{component_id}"
    if not isinstance(component, dict):
        return [f"{where}: expected a table"]
    component_type = component.get("type")
    table_name = COMPONENT_TABLES.get((kind, component_type))
    if table_name is None:
        known = ", ".join(f"{k[0]} of type {k[1]!r}" for k in COMPONENT_TABLES)
        return [f"{where}: type {component_type!r} has no reference facts here (only {known})"]
    table = reference.tables[table_name]
    problems: list[str] = []
    for key, value in component.items():
        problems.extend(_check_value(table, (key,), value, f"{where}.{key}", reference.version))
    problems.extend(_check_required(table, (), component, where))
    return problems


def _check_value(table: Table, path: tuple[str, ...], value: Any, where: str, version: str) -> list[str]:
    dotted = ".".join(path)
    facts = table.entry(path)
    if facts is None:
        return [f"{where}: unknown option (Vector rejects unknown keys of this component)"]
    if dotted in table.absent:
        return [f"{where}: not in Vector {version} (documented from 0.58 on)"]
    types = facts["type"] if isinstance(facts["type"], list) else [facts["type"]]
    if not any(_TYPES[t](value) for t in types):
        return [f"{where}: {value!r} is not of type {' or '.join(types)}"]
    problems: list[str] = []
    allowed = facts.get("enum")
    if isinstance(value, str) and allowed is not None and "string" in types:
        retired = table.enum_absent.get(dotted, frozenset())
        if value not in allowed or value in retired:
            valid = [a for a in allowed if a not in retired]
            problems.append(f"{where}: {value!r} is not one of {', '.join(map(repr, valid))}")
    if isinstance(value, list):
        problems.extend(_check_items(facts.get("items"), value, where))
    if isinstance(value, dict) and table.has_children(path):
        for key, inner in value.items():
            problems.extend(_check_value(table, (*path, key), inner, f"{where}.{key}", version))
        problems.extend(_check_required(table, path, value, where))
    return problems


def _check_items(items: Mapping[str, Any] | None, values: list[Any], where: str) -> list[str]:
    if not items:
        return []
    problems = []
    for index, item in enumerate(values):
        item_types = items["type"] if isinstance(items["type"], list) else [items["type"]]
        if not any(_TYPES[t](item) for t in item_types):
            problems.append(f"{where}[{index}]: {item!r} is not of type {' or '.join(item_types)}")
        elif "enum" in items and isinstance(item, str) and item not in items["enum"]:
            problems.append(f"{where}[{index}]: {item!r} is not one of {', '.join(items['enum'])}")
    return problems


def _check_required(
    table: Table, parent: tuple[str, ...], present: Mapping[str, Any], where: str
) -> list[str]:
    """Required children of a table that is there, where their condition holds."""
    problems = []
    for name, facts in table.children(parent):
        if name == "*" or name in present:
            if name in present:
                condition = facts.get("relevant_when")
                if condition and not _holds(condition, table, parent, present):
                    problems.append(f"{where}.{name}: only applies when {condition}")
            continue
        dotted = ".".join((*parent, name))
        generic = re.sub(r"^(sinks|sources)\.\*\.", "", dotted)
        if not facts.get("required") or dotted in table.optional or generic.startswith(_STRATEGY_PREFIX):
            continue
        condition = _REQUIRED_ONLY_WHEN.get(generic, facts.get("relevant_when"))
        if condition and not _holds(condition, table, parent, present):
            continue
        label = f"{where}.{name}" if where else name
        problems.append(f"{label}: required{f' when {condition}' if condition else ''}, but missing")
    return problems


def _holds(condition: str, table: Table, parent: tuple[str, ...], present: Mapping[str, Any]) -> bool:
    """``codec = "avro"`` or ``a = "x" or a = "y"``, against the siblings (or their defaults)."""
    for alternative in condition.split(" or "):
        match = _CONDITION.match(alternative)
        if match is None:
            return True  # a condition we cannot read: assume it applies, so nothing is skipped
        sibling, wanted = match.groups()
        actual = present.get(sibling)
        if actual is None:
            facts = table.entry((*parent, sibling))
            actual = facts.get("default") if facts else None
        if actual == wanted:
            return True
    return False


def _check_inputs(config: Mapping[str, Any]) -> list[str]:
    """Every sink input names a source or transform of this file."""
    known = set(config.get("sources", {})) | set(config.get("transforms", {}))
    problems = []
    for sink_id, sink in config.get("sinks", {}).items():
        for name in sink.get("inputs", []) if isinstance(sink, dict) else []:
            if isinstance(name, str) and "*" not in name and name not in known:
                problems.append(f"sinks.{sink_id}.inputs: {name!r} is not a source or transform here")
    return problems
