"""Secret references, SecretRef as the seed shows it, resolving inside values, and scrubbing."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from automate.config import Settings
from automate.errors import InvalidSecretReference, SecretAccessDenied, SecretNotFoundError
from automate.secrets import Reader, Redactor, SecretRef, parse_reference, references_in, resolve, resolve_in
from automate.secrets.references import Reference


@pytest.mark.parametrize(("text", "reference"), [
    ("$secret:STRIPE_API_KEY", Reference("secret", "STRIPE_API_KEY")),
    ("$secret:stripe.live-key_2", Reference("secret", "stripe.live-key_2")),
    ("$env:DATABASE_URL", Reference("env", "DATABASE_URL")),
    ("$vault:secret/api", Reference("vault", "secret/api")),
    ("$vault:payments/stripe#key", Reference("vault", "payments/stripe", "key")),
    ("$aws:prod/stripe", Reference("aws", "prod/stripe")),
    ("$aws:arn:aws:secretsmanager:eu-west-1:123:secret:x#api_key",
     Reference("aws", "arn:aws:secretsmanager:eu-west-1:123:secret:x", "api_key")),
])
def test_the_four_forms(text: str, reference: Reference) -> None:
    assert parse_reference(text) == reference
    assert reference.text == text


@pytest.mark.parametrize("text", ["", "secret:X", "$secret:", "$secret:a b", "$env:1X", "$keychain:x",
                                  "$vault:", "Bearer $secret:X"])
def test_anything_else_is_not_a_reference(text: str) -> None:
    with pytest.raises(InvalidSecretReference, match="not a secret reference"):
        parse_reference(text)


def test_references_inside_strings_and_incomplete_ones() -> None:
    value = {"headers": {"Authorization": "Bearer $secret:HOOK_TOKEN"}, "url": "https://x/$env:HOST/a",
             "list": ["$vault:a/b#c", 3, None], "$secret:IN_A_KEY": True}
    assert sorted(r.text for r in references_in(value)) == [
        "$env:HOST", "$secret:HOOK_TOKEN", "$secret:IN_A_KEY", "$vault:a/b#c"]
    with pytest.raises(InvalidSecretReference, match="not complete") as refused:
        references_in({"a": "token $secret: and more"})
    assert "'token $…: and more'" in refused.value.message  # where, without echoing what follows it


def test_secret_ref_as_the_seed_shows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    class MyConfig:
        api_key: SecretRef = SecretRef("$secret:API_KEY")

    with pytest.warns(DeprecationWarning):  # the seed's example uses pydantic's class-based Config
        class ConnectorConfig(BaseModel):
            api_key: SecretRef

            class Config:
                arbitrary_types_allowed = True

    assert MyConfig.api_key == "$secret:API_KEY" and isinstance(MyConfig.api_key, str)
    config = ConnectorConfig(api_key="$env:SHOP_TEST_API_KEY")  # type: ignore[arg-type]
    assert isinstance(config.api_key, SecretRef)
    assert config.model_dump() == {"api_key": "$env:SHOP_TEST_API_KEY"}  # the reference, not a value
    monkeypatch.setenv("SHOP_TEST_API_KEY", "sk_test_123")
    assert config.api_key.resolve() == "sk_test_123"
    with pytest.raises(ValidationError, match="not a secret reference"):
        ConnectorConfig(api_key="sk_live_plaintext")  # type: ignore[arg-type]
    with pytest.raises(InvalidSecretReference):
        SecretRef("plaintext")


def test_resolving_inside_a_value_looks_each_reference_up_once_and_keeps_a_redactor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_TEST_TOKEN", "tok-42")
    value = {"headers": {"Authorization": "Bearer $env:SHOP_TEST_TOKEN"},
             "again": ["$env:SHOP_TEST_TOKEN", "no reference", 7]}
    resolved, redactor = resolve_in(value, tenant="t", reader=Reader("a", "http"), settings=Settings())
    assert resolved == {"headers": {"Authorization": "Bearer tok-42"}, "again": ["tok-42", "no reference", 7]}
    assert value["headers"] == {"Authorization": "Bearer $env:SHOP_TEST_TOKEN"}  # untouched
    assert redactor.scrub("echo: Bearer tok-42!") == "echo: Bearer [secret]!"
    assert redactor.scrub_value({"tok-42": ["x tok-42 y"]}) == {"[secret]": ["x [secret] y"]}


def test_a_missing_variable_names_the_reference_not_a_value() -> None:
    with pytest.raises(SecretNotFoundError, match=r"\$env:SHOP_TEST_NOT_SET"):
        resolve("$env:SHOP_TEST_NOT_SET")


def test_the_redactor_scrubs_longer_values_first() -> None:
    redactor = Redactor({"abc", "abcdef"})
    assert redactor.scrub("abcdef abc") == "[secret] [secret]"


def test_automates_own_settings_are_no_secret_to_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMATE_VAULT_TOKEN", "hvs.deployment")
    with pytest.raises(SecretAccessDenied, match=r"\$env:AUTOMATE_VAULT_TOKEN") as caught:
        resolve("$env:AUTOMATE_VAULT_TOKEN")
    assert "hvs.deployment" not in str(caught.value)
