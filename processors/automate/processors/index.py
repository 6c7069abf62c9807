"""The trigger index: which automations an event may start, found by tenant and event type, not by a scan.

Exact patterns are one dict lookup; glob patterns (``order.*``, ``*.created``, ``user.?ign*``, with
:mod:`fnmatch` syntax, where ``*`` also crosses dots) are matched once per (tenant, type) and the answer
is cached, so a steady stream of known types costs a dict lookup per event whatever the number of
automations. An index is immutable: a configuration change builds a new one and swaps it in.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from automate.rules import CompiledRule, RuleError, compile_rule

__all__ = ["Candidate", "Target", "TriggerIndex", "TriggerRow"]

log = logging.getLogger("automate.processors.index")

_CACHE_LIMIT = 50_000  # (tenant, type) pairs remembered; cleared when full (types are a small set)


@dataclass(frozen=True, slots=True)
class TriggerRow:
    """One trigger of one enabled automation's live version, as stored in Postgres."""

    automation_id: str
    tenant: str
    slug: str
    version: int
    event_pattern: str
    rule: Any  # JSONLogic, or None: every event of the pattern


@dataclass(frozen=True, slots=True)
class Target:
    """An automation the processors may request executions of: its live version and its topic."""

    automation_id: str
    tenant: str
    slug: str
    version: int

    @property
    def name(self) -> bytes:
        """The uuid5 name of the automation in execution ids."""
        return self.automation_id.encode()


@dataclass(frozen=True, slots=True)
class Candidate:
    """An automation whose triggers match an event type: it matches the event when any of ``rules``
    holds; ``rules`` is empty when one of its triggers has no rule (it always matches)."""

    target: Target
    rules: tuple[CompiledRule, ...]


class TriggerIndex:
    """Candidates by (tenant, event type), built from :class:`TriggerRow` s."""

    def __init__(self, rows: Iterable[TriggerRow]) -> None:
        self._exact: dict[tuple[str, str], list[tuple[Target, CompiledRule | None]]] = {}
        self._globs: dict[str, list[tuple[re.Pattern[str], Target, CompiledRule | None]]] = {}
        self._cache: dict[tuple[str, str], tuple[Candidate, ...]] = {}
        targets: dict[str, Target] = {}
        self.skipped: list[tuple[TriggerRow, str]] = []  # triggers whose stored rule does not compile
        for row in rows:
            target = targets.setdefault(row.automation_id, Target(row.automation_id, row.tenant, row.slug,
                                                                  row.version))
            try:
                rule = compile_rule(row.rule) if row.rule is not None else None
            except RuleError as exc:  # validated on apply, so only a hand-edited row gets here
                self.skipped.append((row, str(exc)))
                log.error("trigger rule does not compile; trigger ignored",
                          extra={"action": "processors.bad_rule", "slug": row.slug, "tenant": row.tenant,
                                 "error": str(exc)})
                continue
            if _is_glob(row.event_pattern):
                regex = re.compile(fnmatch.translate(row.event_pattern))
                self._globs.setdefault(row.tenant, []).append((regex, target, rule))
            else:
                self._exact.setdefault((row.tenant, row.event_pattern), []).append((target, rule))
        self.targets: tuple[Target, ...] = tuple(targets.values())

    def __len__(self) -> int:
        return len(self.targets)

    def candidates(self, tenant: str, event_type: str) -> tuple[Candidate, ...]:
        """The automations of ``tenant`` with a trigger on ``event_type``, each once, in a stable order."""
        key = (tenant, event_type)
        found = self._cache.get(key)
        if found is None:
            found = self._resolve(tenant, event_type)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        return found

    def _resolve(self, tenant: str, event_type: str) -> tuple[Candidate, ...]:
        pairs = list(self._exact.get((tenant, event_type), ()))
        pairs.extend((target, rule) for regex, target, rule in self._globs.get(tenant, ())
                     if regex.match(event_type))
        grouped: dict[str, tuple[Target, list[CompiledRule | None]]] = {}
        for target, rule in pairs:
            grouped.setdefault(target.automation_id, (target, []))[1].append(rule)
        return tuple(Candidate(target, () if None in rules else tuple(r for r in rules if r is not None))
                     for target, rules in sorted(grouped.values(), key=lambda g: g[0].slug))


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")
