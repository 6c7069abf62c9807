"""The one filter syntax of every store, checked, and its translation for LanceDB.

The syntax is Pinecone's metadata filter language: ``{"category": "auth"}`` (equality shorthand; several
keys: all must hold), ``{"year": {"$gte": 2020}}``, operators ``$eq $ne $gt $gte $lt $lte $in $nin
$exists`` on a metadata key and ``$and``/``$or`` over lists of filters. Values are strings, finite
numbers and booleans (lists of them for ``$in``/``$nin``); the ordering operators take numbers only. A
string equality also matches a document whose value for the key is a list containing the string.
``$ne``, ``$nin`` and ``$exists: false`` match documents without the key.

Pinecone receives the checked filter as it is. LanceDB receives SQL over a JSON column of typed keys
(``s_<key>`` strings, ``n_<key>`` numbers, ``b_<key>`` booleans, ``l_<key>`` lists, ``present`` the key
names): each type is read only with its own accessor, so a string never meets a numeric cast. Keys match
``[A-Za-z][A-Za-z0-9_]{0,63}`` and string values are written as SQL literals with quotes doubled, so no
user text ever reaches the SQL unquoted.

Equality and ``$in`` (the common filters) read a second column when the table has it: ``labels``, a list
of ``<type>:<key>=<value>`` strings (``s:`` a string or an element of a list of strings, ``n:`` a number
as a float's ``repr``, ``b:`` ``true``/``false``), with a LABEL_LIST index: ``array_has_any(labels,
[...])`` / ``array_has_all`` are answered from the index instead of parsing every row's JSON (4-9 ms
against 20-46 ms at 100,000 rows). A key is ``[A-Za-z][A-Za-z0-9_]*`` (no ``:`` nor ``=``), so a label
splits unambiguously at its first ``=`` and the value after it needs no escaping; the type prefix keeps
``"1"``, ``1`` and ``true`` apart, as the JSON accessors do. Ranges, ``$ne``, ``$nin`` and ``$exists``
stay on the JSON column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from automate.errors import RagFilterInvalid
from rag.documents import MAX_INT, METADATA_KEY, check_text

__all__ = ["LABELS", "MAX_DEPTH", "MAX_NODES", "check_filter", "check_text", "filter_fields", "labels_of",
           "labels_only", "to_lancedb_sql"]

MAX_DEPTH = 6  # nested $and/$or
MAX_NODES = 100  # conditions and values in one filter
MAX_VALUE = 1_000  # characters of a string value
_COMPARE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_OPERATORS = {"$eq", "$ne", "$in", "$nin", "$exists", *_COMPARE}
FIELD = "fmeta"  # the LanceDB column of typed keys
LABELS = "labels"  # the LanceDB list column of "<type>:<key>=<value>" strings (LABEL_LIST index)
_LABELLED = {"$eq", "$in"}


def _label(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"b:{key}={'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"n:{key}={float(value) + 0.0!r}"  # + 0.0: -0.0 is 0.0, as SQL's = has it
    return f"s:{key}={value}"


def labels_of(metadata: Mapping[str, Any]) -> list[str]:
    """The ``labels`` of a document's checked metadata (a list of strings gives one label per element)."""
    out: set[str] = set()
    for key, value in metadata.items():
        if isinstance(value, list):
            out.update(_label(key, each) for each in value)
        else:
            out.add(_label(key, value))
    return sorted(out)


def labels_only(filters: Mapping[str, Any]) -> bool:
    """Whether every condition of a checked filter is an equality or ``$in`` (answered by the labels'
    index alone: the store can filter first without scanning the table)."""
    for key, value in filters.items():
        if key in ("$and", "$or"):
            if not all(labels_only(each) for each in value):
                return False
        elif isinstance(value, Mapping) and not set(value) <= _LABELLED:
            return False
    return True


def filter_fields(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The typed-key JSON object LanceDB filters on, for a document's checked metadata."""
    out: dict[str, Any] = {"present": sorted(metadata)}
    for key, value in metadata.items():
        if isinstance(value, bool):
            out[f"b_{key}"] = value
        elif isinstance(value, (int, float)):
            out[f"n_{key}"] = float(value)
        elif isinstance(value, str):
            out[f"s_{key}"] = value
        else:
            out[f"l_{key}"] = list(value)
    return out


def check_filter(filters: object) -> dict[str, Any] | None:
    """``filters`` if it is in the syntax (None or ``{}``: no filter).

    Raises:
        RagFilterInvalid: Another operator or shape, a bad key or value, too deep (> 6) or too large
            (> 100 conditions and values).
    """
    if filters is None or filters == {}:
        return None
    if not isinstance(filters, Mapping):
        raise RagFilterInvalid("a filter is an object: {\"key\": value} or {\"key\": {\"$op\": value}}")
    budget = [MAX_NODES]
    _check_node(filters, 1, budget)
    return dict(filters)


def _spend(budget: list[int], n: int = 1) -> None:
    budget[0] -= n
    if budget[0] < 0:
        raise RagFilterInvalid(f"a filter has at most {MAX_NODES} conditions and values")


def _check_node(node: object, depth: int, budget: list[int]) -> None:
    if depth > MAX_DEPTH:
        raise RagFilterInvalid(f"a filter nests at most {MAX_DEPTH} levels")
    if not isinstance(node, Mapping) or not node:
        raise RagFilterInvalid("each filter in $and/$or is a non-empty object")
    for key, value in node.items():
        _spend(budget)
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise RagFilterInvalid(f"{key} takes a non-empty list of filters")
            for each in value:
                _check_node(each, depth + 1, budget)
        elif not isinstance(key, str) or not METADATA_KEY.fullmatch(key):
            raise RagFilterInvalid(f"{str(key)[:40]!r} is neither a metadata key ([A-Za-z][A-Za-z0-9_]*, "
                                   "at most 64) nor $and/$or")
        elif isinstance(value, Mapping):
            if not value:
                raise RagFilterInvalid(f"the condition on {key!r} is empty")
            for op, operand in value.items():
                _check_condition(key, op, operand, budget)
        else:
            _scalar(value, key)


def _check_condition(key: str, op: object, operand: object, budget: list[int]) -> None:
    if op not in _OPERATORS:
        raise RagFilterInvalid(f"unknown operator {str(op)[:20]!r} on {key!r}: one of "
                               f"{', '.join(sorted(_OPERATORS))}, $and, $or")
    if op in ("$in", "$nin"):
        if not isinstance(operand, list) or not operand:
            raise RagFilterInvalid(f"{op} on {key!r} takes a non-empty list")
        _spend(budget, len(operand))
        for each in operand:
            _scalar(each, key)
    elif op == "$exists":
        if not isinstance(operand, bool):
            raise RagFilterInvalid(f"$exists on {key!r} takes true or false")
    elif op in _COMPARE:
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise RagFilterInvalid(f"{op} on {key!r} compares numbers only")
        _scalar(operand, key)
    else:
        _scalar(operand, key)


def _scalar(value: object, key: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):  # before isfinite: 10**400 overflows a float
        if abs(value) > MAX_INT:
            raise RagFilterInvalid(f"integers for {key!r} are within ±2^53, as in documents")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RagFilterInvalid(f"the number for {key!r} must be finite")
        return
    if isinstance(value, str):
        if len(value) > MAX_VALUE or "\x00" in value:
            raise RagFilterInvalid(f"the string for {key!r} has more than {MAX_VALUE} characters or a NUL")
        check_text(value, f"the string for {key!r}", RagFilterInvalid)
        return
    raise RagFilterInvalid(f"values for {key!r} are strings, numbers or booleans, not {type(value).__name__}")


def to_lancedb_sql(filters: Mapping[str, Any], *, labels: bool = False) -> str:
    """The SQL predicate of a filter :func:`check_filter` accepted; with ``labels``, equalities and
    ``$in`` read the ``labels`` column (the table must have it)."""
    return _node(filters, labels)


def _node(node: Mapping[str, Any], labels: bool) -> str:
    parts: list[str] = []
    wanted: list[str] = []  # labels that must all be present: one array_has_all
    for key, value in node.items():
        if key == "$and":
            parts.append("(" + " AND ".join(_node(each, labels) for each in value) + ")")
        elif key == "$or":
            parts.append("(" + " OR ".join(_node(each, labels) for each in value) + ")")
        elif isinstance(value, Mapping):
            for op, operand in value.items():
                if labels and op == "$eq":
                    wanted.append(_label(key, operand))
                elif labels and op == "$in":
                    parts.append(_has("array_has_any", [_label(key, each) for each in operand]))
                else:
                    parts.append(_condition(key, op, operand))
        elif labels:
            wanted.append(_label(key, value))
        else:
            parts.append(_equals(key, value))
    if wanted:
        parts.insert(0, _has("array_has_all" if len(wanted) > 1 else "array_has_any", wanted))
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _has(function: str, labels: list[str]) -> str:
    return f"{function}({LABELS}, [{', '.join(_string(each) for each in dict.fromkeys(labels))}])"


def _condition(key: str, op: str, operand: Any) -> str:
    if op == "$eq":
        return _equals(key, operand)
    if op == "$ne":
        return _not(_equals(key, operand))
    if op == "$in":
        return "(" + " OR ".join(_equals(key, each) for each in operand) + ")"
    if op == "$nin":
        return _not("(" + " OR ".join(_equals(key, each) for each in operand) + ")")
    if op == "$exists":
        present = f"json_array_contains({FIELD}, '$.present', {_string(key)})"
        return present if operand else _not(present)
    return f"json_get_float({FIELD}, {_string('n_' + key)}) {_COMPARE[op]} {_number(operand)}"


def _equals(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"json_get_bool({FIELD}, {_string('b_' + key)}) = {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"json_get_float({FIELD}, {_string('n_' + key)}) = {_number(value)}"
    # json_array_contains compares with the element's JSON text (quotes, backslashes and control
    # characters escaped, other characters as they are): the value is given in that form.
    return (f"(json_get_string({FIELD}, {_string('s_' + key)}) = {_string(value)} OR "
            f"json_array_contains({FIELD}, {_string('$.l_' + key)}, "
            f"{_string(json.dumps(value, ensure_ascii=False)[1:-1])}))")


def _not(predicate: str) -> str:
    """True also where ``predicate`` is NULL (the key is missing)."""
    return f"coalesce({predicate}, false) = false"


def _string(text: str) -> str:
    """A SQL string literal: quotes doubled (the only escape DataFusion's literals know); NUL refused."""
    if "\x00" in text:
        raise RagFilterInvalid("a filter string holds a NUL")
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    return repr(float(value))
