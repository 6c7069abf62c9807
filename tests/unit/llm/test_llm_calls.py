"""Preparing a call: which provider, model, key and server; a key meant for one provider never goes to
another; references resolved; nothing unknown accepted."""

from __future__ import annotations

import pytest

from automate.config import Settings
from automate.errors import LlmKeyMissing, UnknownProvider, UsageError
from automate_llm.calls import prepare

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for variable in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    return Settings(llm_provider="openai", llm_model="gpt-4o", llm_api_key="sk-configured",  # type: ignore[arg-type]
                    llm_base_url="http://llm.internal/v1")


def test_the_settings_apply_to_their_own_provider_only(settings: Settings,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    call = prepare(HI, {"settings": settings})
    assert (call.request.model, call.target.api_key, call.target.base_url) == (
        "gpt-4o", "sk-configured", "http://llm.internal/v1")
    with pytest.raises(LlmKeyMissing, match="ANTHROPIC_API_KEY"):
        prepare(HI, {"settings": settings, "provider": "anthropic"})
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    other = prepare(HI, {"settings": settings, "provider": "anthropic"})
    assert (other.request.model, other.target.api_key, other.target.base_url) == (
        "claude-3-5-haiku-latest", "sk-ant-env", None)


def test_a_key_reference_is_resolved_and_never_shown(settings: Settings,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "sk-from-env-var")
    call = prepare(HI, {"settings": settings, "api_key": "$env:MY_LLM_KEY"})
    assert call.target.api_key == "sk-from-env-var"
    assert "sk-from-env-var" not in repr(call) and "sk-configured" not in repr(call)


def test_the_cache_key_is_made_only_when_asked_for(settings: Settings) -> None:
    assert prepare(HI, {"settings": settings}).cache_key is None
    cached = prepare(HI, {"settings": settings, "cache": True})
    again = prepare(HI, {"settings": settings, "cache": True})
    other_key = prepare(HI, {"settings": settings, "cache": True, "api_key": "sk-other"})
    assert cached.cache_key == again.cache_key
    # another key, another entry: an answer got with one key is never served to a call with another
    assert cached.cache_key != other_key.cache_key


def test_the_cache_key_names_the_bedrock_region_boto3_would_use(settings: Settings,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    west = prepare(HI, {"settings": settings, "provider": "bedrock", "cache": True})
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    east = prepare(HI, {"settings": settings, "provider": "bedrock", "cache": True})
    assert (west.target.region, east.target.region) == ("eu-west-1", "us-east-1")
    assert west.cache_key != east.cache_key


@pytest.mark.parametrize("options", [
    {"temprature": 0.5}, {"model": "bad model name"}, {"base_url": "ftp://x"}, {"timeout": 0},
    {"max_retries": 6}, {"timeout": 601}, {"cache": "yes"}, {"automation": "Not A Slug"}, {"api_key": ""},
    {"provider": "bedrock", "api_key": "sk-1"}, {"schema": {"type": 5}},
])
def test_bad_options_are_usage_errors(settings: Settings, options: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        prepare(HI, {"settings": settings, **options})


def test_unknown_provider(settings: Settings) -> None:
    with pytest.raises(UnknownProvider):
        prepare(HI, {"settings": settings, "provider": "watson"})


@pytest.mark.parametrize("key", ["sk-caf\u00e9-SECRETVALUE", "sk-abc\nSECRETVALUE", "sk-abc SECRETVALUE",
                                 "sk-\x01SECRETVALUE", "x" * 4097])
def test_a_key_that_cannot_go_in_a_header_is_refused_unquoted(settings: Settings, key: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LLM_KEY", key)
    for options in ({"api_key": key}, {"api_key": "$env:MY_LLM_KEY"}):
        with pytest.raises((LlmKeyMissing, UsageError)) as failed:
            prepare(HI, {"settings": settings, **options})
        assert "SECRETVALUE" not in str(failed.value) + repr(failed.value) + repr(failed.value.args)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    other = Settings(llm_provider="anthropic")
    with pytest.raises(LlmKeyMissing, match=r"OPENAI_API_KEY .* not a usable key") as failed:
        prepare(HI, {"settings": other, "provider": "openai"})
    assert "SECRETVALUE" not in repr(failed.value.args)
