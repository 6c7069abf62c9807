"""The trigger index, the derived execution ids and the Avro fragments, without a broker."""

from __future__ import annotations

import io
import uuid

import fastavro
from hypothesis import given
from hypothesis import strategies as st

from automate.contracts import avro_long, avro_string
from automate.ids import execution_id, random_id, uuid5_of
from automate.processors import TriggerIndex, TriggerRow


def row(automation: str, pattern: str, rule: object = None, *, tenant: str = "acme", version: int = 1
        ) -> TriggerRow:
    return TriggerRow(automation, tenant, f"slug-{automation}", version, pattern, rule)


def slugs(index: TriggerIndex, tenant: str, event_type: str) -> list[str]:
    return [c.target.slug for c in index.candidates(tenant, event_type)]


def test_exact_and_glob_patterns() -> None:
    index = TriggerIndex([
        row("a", "order.created"), row("b", "order.*"), row("c", "*.created"), row("d", "user.sign?d_up"),
        row("e", "invoice.[ab]*"), row("f", "order.created.v2"),
    ])
    assert slugs(index, "acme", "order.created") == ["slug-a", "slug-b", "slug-c"]
    assert slugs(index, "acme", "order.created.v2") == ["slug-b", "slug-f"]  # `*` crosses dots
    assert slugs(index, "acme", "user.signed_up") == ["slug-d"]
    assert slugs(index, "acme", "invoice.approved") == ["slug-e"]
    assert slugs(index, "acme", "invoice.created") == ["slug-c"]
    assert slugs(index, "acme", "payment.received") == []
    assert slugs(index, "acme", "ORDER.created") == ["slug-c"]  # types are case-sensitive


def test_tenants_never_see_each_others_automations() -> None:
    index = TriggerIndex([row("a", "order.*", tenant="acme"), row("b", "order.created", tenant="globex")])
    assert slugs(index, "acme", "order.created") == ["slug-a"]
    assert slugs(index, "globex", "order.created") == ["slug-b"]
    assert slugs(index, "initech", "order.created") == []


def test_an_automation_with_several_matching_triggers_is_one_candidate() -> None:
    index = TriggerIndex([row("a", "order.*", {"==": [{"var": "x"}, 1]}),
                          row("a", "order.created", {"==": [{"var": "x"}, 2]})])
    (candidate,) = index.candidates("acme", "order.created")
    assert len(candidate.rules) == 2
    assert sorted(r.evaluate({"x": 2}) for r in candidate.rules) == [False, True]
    assert len(index) == 1


def test_a_trigger_without_rule_makes_the_candidate_unconditional() -> None:
    index = TriggerIndex([row("a", "order.*", {"==": [{"var": "x"}, 1]}), row("a", "order.created")])
    assert index.candidates("acme", "order.created")[0].rules == ()
    assert len(index.candidates("acme", "order.paid")[0].rules) == 1


def test_lookups_are_cached_per_tenant_and_type() -> None:
    index = TriggerIndex([row("a", "order.*")])
    assert index.candidates("acme", "order.created") is index.candidates("acme", "order.created")


def test_a_stored_rule_that_does_not_compile_is_skipped_not_fatal() -> None:
    index = TriggerIndex([row("a", "order.*", {"no-such-operator": [1]}), row("b", "order.*")])
    assert slugs(index, "acme", "order.created") == ["slug-b"]
    assert [r.automation_id for r, _ in index.skipped] == ["a"]


@given(st.uuids(), st.text(max_size=60))
def test_uuid5_of_is_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert uuid5_of(namespace.bytes, name.encode()) == str(uuid.uuid5(namespace, name))
    assert execution_id(str(namespace), name) == str(uuid.uuid5(namespace, name))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=300))
def test_avro_fragments_match_fastavro(n: int, s: str) -> None:
    def fast(schema: object, value: object) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), value)
        return buf.getvalue()

    assert avro_long(n) == fast("long", n)
    assert avro_string(s) == fast("string", s)


def test_random_ids_are_distinct_version_4_uuids() -> None:
    ids = [random_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for ident in ids[:50]:
        parsed = uuid.UUID(ident)
        assert str(parsed) == ident and parsed.version == 4 and parsed.variant == uuid.RFC_4122
