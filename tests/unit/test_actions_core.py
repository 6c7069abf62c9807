"""The built-in core.* actions and the action registry."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import pytest

from automate.config import Settings
from automate.errors import StepError
from automate.runtime.actions import (
    Action,
    ActionContext,
    ActionRegistry,
    UnknownAction,
    builtin_actions,
    registry,
)

CORE = {"core.log", "core.transform", "core.fail", "core.sleep", "core.wait", "core.noop"}
CONNECTOR_ACTIONS = {"http.request", "webhook.send", "slack.send_message", "slack.post_webhook", "email.send",
                     "aws.s3_put_object", "aws.s3_get_object", "aws.sqs_send_message", "aws.sns_publish",
                     "kafka.produce", "postgres.query"}
RAG_ACTIONS = {"rag.query", "rag.index"}  # entry point rag.connector:RagConnector
LLM_ACTIONS = {"llm.chat"}  # entry point automate_llm.connector:LlmConnector
BUILTINS = CORE | CONNECTOR_ACTIONS | RAG_ACTIONS | LLM_ACTIONS


def make_ctx(*, attempt: int = 1, logger: str = "automate.test.actions") -> ActionContext:
    log = logging.LoggerAdapter(logging.getLogger(logger), {"execution_id": "ex-1", "step_id": "step-a"})
    return ActionContext(execution_id="ex-1", step_id="step-a", attempt=attempt,
                         idempotency_key="ex-1:step-a", tenant="default", settings=Settings(), log=log)


def run(name: str, input: Mapping[str, Any], ctx: ActionContext | None = None) -> dict[str, Any]:
    return asyncio.run(registry.require(name).run(input, ctx or make_ctx()))


def fails(name: str, input: Mapping[str, Any], ctx: ActionContext | None = None) -> StepError:
    with pytest.raises(StepError) as info:
        run(name, input, ctx)
    return info.value


# --- registry -------------------------------------------------------------------------------------------


def test_registry_holds_the_builtins() -> None:
    assert registry.names() == BUILTINS
    for name in BUILTINS:
        action = registry.get(name)
        assert action is not None and action.name == name


def test_unknown_action_is_a_permanent_step_error() -> None:
    assert registry.get("nope.nothing") is None
    with pytest.raises(UnknownAction) as info:
        registry.require("nope.nothing")
    assert isinstance(info.value, StepError)
    assert info.value.code == "action.unknown" and info.value.retryable is False
    assert "nope.nothing" in str(info.value)


def test_register_refuses_a_taken_name_unless_replacing() -> None:
    fresh = ActionRegistry(builtin_actions())
    assert fresh.names() == BUILTINS and len(fresh) == len(BUILTINS)

    class Custom:
        name = "core.noop"
        idempotent = True

        async def run(self, input: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
            return {"custom": True}

    custom: Action = Custom()
    with pytest.raises(ValueError, match="already registered"):
        fresh.register(custom)
    fresh.register(custom, replace=True)
    assert fresh.require("core.noop") is custom
    assert registry.require("core.noop") is not custom  # the shared registry is untouched


def test_http_request_is_not_idempotent_and_core_actions_are() -> None:
    assert registry.require("http.request").idempotent is False
    assert all(registry.require(name).idempotent for name in CORE)


# --- core.log -------------------------------------------------------------------------------------------


def test_log_writes_the_message_with_ids_and_the_action_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="automate.test.actions"):
        assert run("core.log", {"message": "order 42 shipped (100%)", "level": "warning"}) == {"logged": True}
    [record] = [r for r in caplog.records if r.name == "automate.test.actions"]
    assert record.getMessage() == "order 42 shipped (100%)"
    assert record.levelno == logging.WARNING
    assert record.__dict__["action"] == "core.log"
    assert record.__dict__["execution_id"] == "ex-1" and record.__dict__["step_id"] == "step-a"


def test_log_defaults_to_info_and_stringifies(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="automate.test.actions"):
        run("core.log", {"message": 7})
    [record] = [r for r in caplog.records if r.name == "automate.test.actions"]
    assert (record.levelno, record.getMessage()) == (logging.INFO, "7")


def test_log_below_the_logger_level_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="automate.test.actions"):
        assert run("core.log", {"message": "noise", "level": "debug"}) == {"logged": True}
    assert [r for r in caplog.records if r.name == "automate.test.actions"] == []


@pytest.mark.parametrize("input", [{}, {"message": "x", "level": "loud"}, {"message": "x", "level": 3}])
def test_log_refuses_bad_input(input: dict[str, Any]) -> None:
    error = fails("core.log", input)
    assert error.code == "input.invalid" and error.retryable is False


# --- core.transform -------------------------------------------------------------------------------------


def test_transform_returns_its_input_as_a_copy() -> None:
    source = {"name": "Ada", "tags": ("a", "b"), "nested": {"n": 1.5, "ok": True, "none": None}}
    output = run("core.transform", source)
    assert output == {"name": "Ada", "tags": ["a", "b"], "nested": {"n": 1.5, "ok": True, "none": None}}
    output["nested"]["n"] = 0
    assert source["nested"]["n"] == 1.5  # type: ignore[index]


@pytest.mark.parametrize(("input", "path"), [
    ({"when": time}, "$.when"),
    ({"items": [1, {2, 3}]}, "$.items[1]"),
    ({"ratio": math.nan}, "$.ratio"),
    ({"deep": {"x": {1: "one"}}}, "$.deep.x"),
    ({"blob": b"bytes"}, "$.blob"),
])
def test_transform_refuses_values_json_cannot_hold(input: dict[str, Any], path: str) -> None:
    error = fails("core.transform", input)
    assert error.code == "output.not_json" and error.retryable is False
    assert path in str(error)


# --- core.fail ------------------------------------------------------------------------------------------


def test_fail_twice_then_succeed() -> None:
    spec = {"code": "flaky.upstream", "times": 2}
    for attempt in (1, 2):
        error = fails("core.fail", spec, make_ctx(attempt=attempt))
        assert (error.code, error.retryable) == ("flaky.upstream", True)
    assert run("core.fail", spec, make_ctx(attempt=3)) == {"attempt": 3}


def test_fail_without_times_always_fails_with_the_chosen_error() -> None:
    spec = {"code": "bad.request", "message": "nope", "retryable": False, "retry_after": 2.5}
    error = fails("core.fail", spec, make_ctx(attempt=50))
    assert (error.code, error.retryable, error.retry_after, str(error)) == ("bad.request", False, 2.5, "nope")


def test_fail_zero_times_succeeds_at_once() -> None:
    assert run("core.fail", {"code": "x", "times": 0}) == {"attempt": 1}


@pytest.mark.parametrize("input", [
    {}, {"code": ""}, {"code": "x", "times": -1}, {"code": "x", "times": "2"},
    {"code": "x", "retryable": "yes"}, {"code": "x", "message": 5}, {"code": "x", "retry_after": -1},
])
def test_fail_refuses_bad_input(input: dict[str, Any]) -> None:
    error = fails("core.fail", input)
    assert error.code == "input.invalid" and error.retryable is False


# --- core.sleep and core.noop ---------------------------------------------------------------------------


def test_sleep_waits_without_blocking_the_loop() -> None:
    async def main() -> tuple[list[dict[str, Any]], float]:
        start = time.monotonic()
        sleep = registry.require("core.sleep")
        outputs = await asyncio.gather(*(sleep.run({"seconds": 0.2}, make_ctx()) for _ in range(20)))
        return list(outputs), time.monotonic() - start

    outputs, elapsed = asyncio.run(main())
    assert outputs == [{"slept": 0.2}] * 20
    assert 0.2 <= elapsed < 1.5  # twenty concurrent sleeps take about one sleep


@pytest.mark.parametrize("input", [
    {}, {"seconds": -1}, {"seconds": "1"}, {"seconds": math.inf}, {"seconds": True},
])
def test_sleep_refuses_bad_input(input: dict[str, Any]) -> None:
    assert fails("core.sleep", input).code == "input.invalid"


def test_noop_returns_an_empty_object() -> None:
    assert run("core.noop", {"ignored": 1}) == {}
