"""The connector framework without a service: the seed's example as written, the registry and its entry
points, error normalization, schemas, and what workflow validation knows of connectors."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from automate.errors import AutomateError, ConnectorError, ErrorCodes, UsageError, WorkflowValidationError
from automate.runtime.actions import registry as actions
from automate.runtime.workflows import validate
from automate_connectors import ActionSpec, Connector, RateLimit
from automate_connectors.errors import as_step_error, from_http_status, normalize
from automate_connectors.registry import ConnectorRegistry
from automate_connectors.registry import registry as shared
from automate_connectors.schemas import validate_against


class MyConnector(Connector):  # the seed's example, as written
    key = "my_connector"
    display_name = "My Connector"

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [
            ActionSpec(
                name="send_message",
                input_schema={"type": "object", "properties": {"text": {"type": "string"}}},
                idempotent=True
            )
        ]

    def execute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        if action == "send_message":
            return self._send_message(input_data)
        raise ValueError(f"Unknown action: {action}")

    def _send_message(self, input_data: dict[str, Any]) -> dict[str, Any]:
        return {"sent": input_data.get("text"), "config": self.config.get("channel")}

    def normalize_error(self, exc: Exception) -> Exception:
        return AutomateError(ErrorCodes.INTERNAL, str(exc))


def test_the_seeds_registry_example() -> None:
    registry = ConnectorRegistry(entry_point_group=None)
    assert "slack" in list(registry.list_connectors())
    connector_cls = registry.get_connector("slack")
    assert connector_cls.key == "slack"
    assert connector_cls(config={"token": "x"}, ctx=None).config == {"token": "x"}
    for key in registry.list_connectors():
        assert registry.get_connector(key).key == key
    registry.register("my_connector", MyConnector)
    connector = registry.get_connector("my_connector")(config={"channel": "C1"}, ctx=None)
    assert connector.execute_action("send_message", {"text": "hi"}) == {"sent": "hi", "config": "C1"}
    assert asyncio.run(connector.aexecute_action("send_message", {"text": "yo"}))["sent"] == "yo"
    error = connector.normalize_error(ValueError("Unknown action: x"))
    assert isinstance(error, AutomateError) and error.code == "internal"
    assert registry.find_action("my_connector.send_message") is not None


def test_registering_refuses_what_cannot_work() -> None:
    registry = ConnectorRegistry(builtins=False, entry_point_group=None)
    with pytest.raises(UsageError, match="subclass"):
        registry.register("x", dict)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="not a connector key"):
        registry.register("Bad Key", MyConnector)

    class Limited(MyConnector):
        key = "limited"

        @classmethod
        def actions(cls) -> list[ActionSpec]:
            return [ActionSpec(name="a", rate_limit="missing")]

    with pytest.raises(UsageError, match="rate limit 'missing'"):
        registry.register("limited", Limited)

    class BadSchema(MyConnector):
        key = "bad"
        config_schema: ClassVar[dict[str, Any]] = {"type": "no-such-type"}

    with pytest.raises(UsageError, match="not a valid JSON schema"):
        registry.register("bad", BadSchema)
    with pytest.raises(UsageError, match=r"MyConnector.key is 'my_connector'; register it as that key"):
        registry.register("mine", MyConnector)
    with pytest.raises(UsageError, match="rate limit must allow calls"):
        RateLimit(per_second=0)
    registry.register("my_connector", MyConnector)
    with pytest.raises(UsageError, match="already registered"):
        registry.register("my_connector", type("Other", (MyConnector,), {}))
    with pytest.raises(ConnectorError, match="unknown connector 'nope'") as unknown:
        registry.get_connector("nope")
    assert unknown.value.code == "connector.unknown"


class Plugin(Connector):
    key = "plugin"
    rate_limits: ClassVar[dict[str, RateLimit]] = {"calls": RateLimit(per_second=2.0)}

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [ActionSpec(name="ping", rate_limit="calls")]


def test_installed_packages_add_connectors_by_entry_point(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "automate_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: automate-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[test.automate.connectors]\nplugin = tests.unit.test_connectors_framework:Plugin\n"
        "broken = tests.unit.no_such_module:Nothing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = ConnectorRegistry(builtins=False, entry_point_group="test.automate.connectors")
    assert registry.list_connectors() == ["plugin"]  # the broken one is logged and skipped
    found = registry.get_connector("plugin")  # (loaded by its module path: another copy of the class)
    assert (found.__name__, found.key, [a.name for a in found.actions()]) == ("Plugin", "plugin", ["ping"])
    assert "tests.unit.no_such_module" not in sys.modules


def test_failures_become_connector_codes_with_their_retry_meaning() -> None:
    assert (from_http_status(401, "m").code, from_http_status(401, "m").retryable) == ("auth_failed", False)
    assert from_http_status(403, "m").code == "forbidden" and from_http_status(404, "m").code == "not_found"
    limited = from_http_status(429, "m", retry_after=3.0)
    assert (limited.code, limited.retryable, limited.retry_after) == ("rate_limited", True, 3.0)
    assert from_http_status(502, "m").retryable and from_http_status(422, "m").code == "input.invalid"
    assert normalize(TimeoutError()).code == "timeout" and normalize(ConnectionResetError()).code == "network"
    internal = normalize(KeyError("api_key=sk_live_secret"))
    assert internal.code == "internal" and "sk_live_secret" not in internal.message  # named by type only
    assert as_step_error(AutomateError(ErrorCodes.UPSTREAM_5XX, "m")).retryable  # the code says so
    missing = normalize(FileNotFoundError("/etc/certs/client.pem"))  # a configuration fault: never retried
    assert (missing.code, missing.retryable) == ("config.invalid", False)
    assert "client.pem" not in missing.message


def test_schema_faults_name_the_path_never_the_value() -> None:
    schema = {"type": "object", "required": ["to"], "properties": {"to": {"type": "array"},
                                                                   "n": {"type": "integer"}}}
    with pytest.raises(ConnectorError, match=r"input at \$: 'to' is a required property"):
        validate_against(schema, {}, what="input", code=ErrorCodes.INPUT_INVALID)
    with pytest.raises(ConnectorError, match=r"input at \$.to: must be array") as wrong:
        validate_against(schema, {"to": "password-123"}, what="input", code=ErrorCodes.INPUT_INVALID)
    assert "password-123" not in str(wrong.value)


def test_every_connector_action_is_a_step_action() -> None:
    assert {"slack.send_message", "email.send", "aws.s3_put_object", "postgres.query"} <= actions.names()
    assert actions.require("webhook.send").idempotent and not actions.require("slack.send_message").idempotent
    assert shared.find_action("slack.nope") is None and shared.find_action("nope") is None


def _workflow(**step: Any) -> dict[str, Any]:
    return {"slug": "wf", "name": "wf", "steps": [{"id": "a", **step}]}


def test_validation_knows_what_connector_steps_need() -> None:
    slack = _workflow(action="slack.send_message", input={"channel": "C", "text": "t"})
    with pytest.raises(WorkflowValidationError) as refused:
        validate(slack, actions.names())
    assert refused.value.faults == [("$.steps[0].connection", "slack.send_message needs a connection (a "
                                     "slack connection made with `automate connections set`)")]
    templated = _workflow(action="postgres.query", connection="db",
                          input={"sql": "SELECT * FROM t WHERE id = '{{ event.payload.id }}'"})
    with pytest.raises(WorkflowValidationError, match=r"input.sql: postgres.query's sql must be written out"):
        validate(templated, actions.names())
    with pytest.raises(WorkflowValidationError, match=r"core\.noop is no connector's action"):
        validate(_workflow(action="core.noop", connection="db"), actions.names())
    ok = validate(_workflow(action="http.request", input={"url": "https://x.test/{{ event.payload.id }}"}),
                  actions.names())
    assert ok.steps[0].connection is None


def test_a_workflow_sends_secrets_only_where_credentials_go() -> None:
    def faults(**step: Any) -> list[tuple[str, str]]:
        with pytest.raises(WorkflowValidationError) as refused:
            validate(_workflow(**step), actions.names())
        return refused.value.faults

    assert faults(action="slack.send_message", connection="team",
                  input={"channel": "C", "text": "token: $secret:SLACK_TOKEN"}) == [
        ("$.steps[0].input.text", "$secret:SLACK_TOKEN: slack.send_message takes secrets in nowhere in its "
                                  "input (its connection holds them)")]
    assert faults(action="http.request", input={"url": "https://api.test/", "headers": {
        "Authorization": "Bearer $env:DATABASE_URL"}}) == [
        ("$.steps[0].input.headers.Authorization", "$env:DATABASE_URL: a workflow names $secret: references "
                                                   "only; $env: belongs in a connection's configuration")]
    assert faults(action="http.request", input={"url": "{{ event.payload.callback }}", "headers": {
        "Authorization": "Bearer $secret:TOKEN"}}) == [
        ("$.steps[0].input.url", "http.request sends a secret: write its url out up to the host "
                                 "(https://host/...), templates only after it")]
    glued = faults(action="http.request", input={"url": "https://api.test{{ event.payload.path }}",
                                                 "headers": {"X-Key": "$secret:TOKEN"}})
    assert glued[0][0] == "$.steps[0].input.url"  # the template could still change the host
    assert faults(action="slack.send_message", connection="team",
                  input={"channel": "C", "text": "t", "$env:WORKER_KEY": "x"}) == [
        ("$.steps[0].input.$env:WORKER_KEY", "$env:WORKER_KEY: a secret reference is never a field's name")]
    nested = faults(action="http.request", input={"url": "https://api.test/",
                                                  "headers": {"$secret:TOKEN": "x"}})
    assert nested == [("$.steps[0].input.headers.$secret:TOKEN",
                       "$secret:TOKEN: a secret reference is never a field's name")]
    assert faults(action="core.log", input={"message": "key $secret:TOKEN"}) == [
        ("$.steps[0].input", "core.log is no connector's action: it resolves no secret references")]
    written = validate(_workflow(action="http.request", input={
        "url": "https://api.test/orders/{{ event.payload.id }}",
        "headers": {"Authorization": "Bearer $secret:T"},
        "json": {"note": "{{ event.payload.note }}"}}), actions.names())
    assert written.steps[0].input["headers"] == {"Authorization": "Bearer $secret:T"}
    dated = validate(_workflow(action="core.log", input={"message": "m", "on": dt.date(2024, 1, 1)}),
                     actions.names())  # YAML's unquoted dates are no reason to fail
    assert dated.steps[0].input["on"] == dt.date(2024, 1, 1)


class Leaky(Connector):
    key = "leaky"
    closed: ClassVar[list[str]] = []

    def __init__(self, config: Any = None, ctx: Any = None) -> None:
        if (config or {}).get("explode"):
            raise RuntimeError("dsn=postgres://admin:hunter2@db")
        super().__init__(config, ctx)

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [ActionSpec(name="go")]

    def execute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        return {"went": True}

    def normalize_error(self, exc: Exception) -> Exception:
        raise ValueError("a broken mapping quoting hunter2")

    async def aclose(self) -> None:
        self.closed.append("closed")
        raise OSError("socket already gone")


def test_whatever_a_connector_raises_becomes_a_typed_error_named_by_type() -> None:
    from automate.config import Settings
    from automate.errors import StepError
    from automate.runtime.actions import ActionContext
    from automate.runtime.actions.connectors import ConnectorAction

    ctx = ActionContext(execution_id="e", step_id="s", attempt=1, idempotency_key="e:s", tenant="t",
                        settings=Settings(), automation="wf", log=logging.getLogger("test"))
    action = ConnectorAction(Leaky, Leaky.actions()[0])
    assert asyncio.run(action.run({}, ctx)) == {"went": True} and Leaky.closed == ["closed"]  # close failed

    class Exploding(Leaky):
        def __init__(self, config: Any = None, ctx: Any = None) -> None:
            super().__init__({"explode": True}, ctx)

    with pytest.raises(StepError) as failed:
        asyncio.run(ConnectorAction(Exploding, Leaky.actions()[0]).run({}, ctx))
    assert failed.value.code == "internal" and "hunter2" not in str(failed.value)
    assert failed.value.message == "RuntimeError in the connector"


def test_a_stored_workflow_that_escaped_validation_still_cannot_steer_a_secret() -> None:
    from automate.config import Settings
    from automate.errors import StepError
    from automate.runtime.actions import ActionContext

    written = {"url": "{{ event.payload.callback }}", "headers": {"Authorization": "Bearer $secret:TOKEN"}}
    ctx = ActionContext(execution_id="e", step_id="s", attempt=1, idempotency_key="e:s", tenant="t",
                        settings=Settings(), automation="wf", log=logging.getLogger("test"),
                        written_input=written)
    rendered = {"url": "https://attacker.test/", "headers": {"Authorization": "Bearer $secret:TOKEN"}}
    with pytest.raises(StepError) as refused:  # refused before any secret is read
        asyncio.run(actions.require("http.request").run(rendered, ctx))
    assert refused.value.code == "input.invalid"
    assert "write its url out up to the host" in refused.value.message
