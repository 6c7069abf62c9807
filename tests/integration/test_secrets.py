"""Secrets against the real Postgres, a Vault KV v2 peer and AWS Secrets Manager (moto server, boto3):
encrypted at rest, scoped, rotated, and never printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from automate.config import Settings
from automate.db.context import close_pools
from automate.errors import ConfigurationError, SecretAccessDenied, SecretNotFoundError
from automate.secrets import Reader, SecretRef, resolve
from automate.secrets.admin import delete_secret, list_secrets, rotate_keys, set_secret
from automate.secrets.keys import ensure_key_file
from tests.integration.peers import moto_server, vault_server

pytestmark = pytest.mark.integration


@pytest.fixture
def secret_settings(db_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    keys = tmp_path / "secret.keys"
    assert ensure_key_file(keys)
    settings = Settings(**{**db_settings.model_dump(), "secret_key_file": keys, "tenant": "acme"})
    yield settings
    close_pools(settings)


def test_a_secret_is_stored_encrypted_and_read_back(secret_settings: Settings) -> None:
    set_secret(secret_settings, "STRIPE_API_KEY", "sk_live_51abc")
    assert resolve("$secret:STRIPE_API_KEY", settings=secret_settings) == "sk_live_51abc"
    assert SecretRef("$secret:STRIPE_API_KEY").resolve(settings=secret_settings) == "sk_live_51abc"
    with psycopg.connect(secret_settings.dsn) as conn:
        stored = conn.execute("SELECT ciphertext::text, key_id FROM secret").fetchall()
    assert len(stored) == 1 and "sk_live_51abc" not in stored[0][0]  # Fernet, not the value
    assert [info.name for info in list_secrets(secret_settings)] == ["STRIPE_API_KEY"]
    with pytest.raises(SecretNotFoundError, match=r"\$secret:STRIPE_API_KEY"):
        resolve("$secret:STRIPE_API_KEY", settings=secret_settings, tenant="globex")  # tenants apart
    assert delete_secret(secret_settings, "STRIPE_API_KEY")
    with pytest.raises(SecretNotFoundError):
        resolve("$secret:STRIPE_API_KEY", settings=secret_settings)


def test_a_scoped_secret_is_read_only_by_the_readers_it_names(secret_settings: Settings) -> None:
    set_secret(secret_settings, "HOOK_TOKEN", "hook-xyz", scopes=["automation:order-fulfilment",
                                                                  "connector:slack"])
    assert resolve("$secret:HOOK_TOKEN", settings=secret_settings,
                   reader=Reader(automation="order-fulfilment", connector="http")) == "hook-xyz"
    assert resolve("$secret:HOOK_TOKEN", settings=secret_settings,
                   reader=Reader(automation="other", connector="slack")) == "hook-xyz"
    for reader in (Reader(automation="other", connector="http"), None):
        with pytest.raises(SecretAccessDenied, match="automation:order-fulfilment") as denied:
            resolve("$secret:HOOK_TOKEN", settings=secret_settings, reader=reader)
        assert "hook-xyz" not in str(denied.value)


def test_without_a_key_nothing_is_encrypted_or_read(secret_settings: Settings, tmp_path: Path) -> None:
    set_secret(secret_settings, "X", "value")
    keyless = Settings(**{**secret_settings.model_dump(), "secret_key_file": tmp_path / "absent.keys"})
    with pytest.raises(ConfigurationError, match="no secret key"):
        set_secret(keyless, "Y", "value")
    with pytest.raises(ConfigurationError, match="no secret key"):
        resolve("$secret:X", settings=keyless)
    close_pools(keyless)


def test_rotation_re_encrypts_under_a_new_key_and_retires_the_old_one(secret_settings: Settings) -> None:
    assert secret_settings.secret_key_file is not None
    set_secret(secret_settings, "A", "alpha")
    set_secret(secret_settings, "B", "beta", tenant="globex")
    old_key = secret_settings.secret_key_file.read_text()
    done = rotate_keys(secret_settings)
    assert done.reencrypted == 2 and len(done.retired) == 1
    new_key = secret_settings.secret_key_file.read_text()
    assert new_key != old_key and len(new_key.split()) == 1  # only the new key is left
    assert oct(os.stat(secret_settings.secret_key_file).st_mode & 0o777) == "0o600"
    assert resolve("$secret:A", settings=secret_settings) == "alpha"
    assert resolve("$secret:B", settings=secret_settings, tenant="globex") == "beta"
    with_old_only = Settings(**{**secret_settings.model_dump(), "secret_key_file": None,
                                "secret_keys": SecretStr(old_key.strip())})
    with pytest.raises(ConfigurationError, match="no secret key of AUTOMATE_SECRET_KEYS opens"):
        resolve("$secret:A", settings=with_old_only)
    close_pools(with_old_only)
    assert rotate_keys(secret_settings).reencrypted == 2  # again: still readable after
    assert resolve("$secret:A", settings=secret_settings) == "alpha"


def test_secrets_written_during_a_rotation_stay_readable(secret_settings: Settings) -> None:
    for i in range(150):  # enough that the rotation's transaction takes a while
        set_secret(secret_settings, f"OLD_{i}", f"old-{i}")
    rotations: list[Any] = []
    rotating = threading.Thread(target=lambda: rotations.append(rotate_keys(secret_settings)))
    rotating.start()
    written = 0
    while rotating.is_alive() or written < 5:
        set_secret(secret_settings, f"NEW_{written}", f"new-{written}")  # each under the key it read
        written += 1
    rotating.join()
    assert rotations[0].retired  # the old key left the file...
    for i in range(written):  # ...and nothing was left encrypted under it
        assert resolve(f"$secret:NEW_{i}", settings=secret_settings) == f"new-{i}"
    assert resolve("$secret:OLD_149", settings=secret_settings) == "old-149"
    with psycopg.connect(secret_settings.dsn) as conn:
        assert conn.execute("SELECT count(DISTINCT key_id) FROM secret").fetchone() == (1,)


def test_a_rotation_that_cannot_open_a_secret_changes_nothing(secret_settings: Settings) -> None:
    from cryptography.fernet import Fernet

    assert secret_settings.secret_key_file is not None
    set_secret(secret_settings, "GOOD", "good")
    with psycopg.connect(secret_settings.dsn) as conn:  # a row under a key nobody has any more
        conn.execute("UPDATE secret SET ciphertext = %s, key_id = 'lost' WHERE name = 'GOOD'",
                     (Fernet(Fernet.generate_key()).encrypt(b"good"),))
    set_secret(secret_settings, "OTHER", "other")
    keys_before = secret_settings.secret_key_file.read_text()
    with pytest.raises(ConfigurationError, match="opens secret acme/GOOD"):
        rotate_keys(secret_settings)
    assert secret_settings.secret_key_file.read_text() == keys_before  # the new key went again
    assert resolve("$secret:OTHER", settings=secret_settings) == "other"


def test_the_cli_reads_values_from_stdin_and_never_prints_them(secret_settings: Settings) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")},
           "AUTOMATE_DATABASE_URL": secret_settings.dsn, "AUTOMATE_TENANT": "acme",
           "AUTOMATE_SECRET_KEY_FILE": str(secret_settings.secret_key_file)}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "automate.cli", "secrets", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=60)

    stored = cli("set", "SMTP_PASSWORD", "--scope", "connector:email", stdin="p4ss-w0rd-9\n")
    assert stored.returncode == 0, stored.stderr
    listed = cli("list")
    assert "SMTP_PASSWORD" in listed.stdout and "connector:email" in listed.stdout
    rotated = cli("rotate")
    assert rotated.returncode == 0 and "re-encrypted 1 secret" in rotated.stderr
    for done in (stored, listed, rotated):
        assert "p4ss-w0rd-9" not in done.stdout + done.stderr
    assert resolve("$secret:SMTP_PASSWORD", settings=secret_settings,
                   reader=Reader(connector="email")) == "p4ss-w0rd-9"
    assert cli("set", "BAD NAME", stdin="x").returncode == 1
    assert cli("delete", "NOPE").returncode == 1


def test_vault_kv2_references(monkeypatch: pytest.MonkeyPatch) -> None:
    with vault_server("s.token", {"payments/stripe": {"key": "sk_vault", "account": "acct_1"},
                                  "single": {"value": "only-one"}}) as vault:
        settings = Settings(vault_url=vault.url, vault_token=SecretStr("s.token"))
        assert resolve("$vault:payments/stripe#key", settings=settings) == "sk_vault"
        assert resolve("$vault:single", settings=settings) == "only-one"
        with pytest.raises(SecretNotFoundError, match="2 fields"):
            resolve("$vault:payments/stripe", settings=settings)
        with pytest.raises(SecretNotFoundError):
            resolve("$vault:nope#key", settings=settings)
        with pytest.raises(SecretAccessDenied):
            resolve("$vault:single", settings=Settings(vault_url=vault.url, vault_token=SecretStr("wrong")))
        assert all(r.headers["x-vault-token"] in ("s.token", "wrong") for r in vault.requests)


def test_aws_secrets_manager_references(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    with moto_server() as endpoint:
        client = boto3.client("secretsmanager", endpoint_url=endpoint)
        client.create_secret(Name="prod/stripe", SecretString=json.dumps({"api_key": "sk_aws", "other": 1}))
        client.create_secret(Name="plain", SecretString="just-text")
        settings = Settings(aws_endpoint_url=endpoint)
        assert resolve("$aws:prod/stripe#api_key", settings=settings) == "sk_aws"
        assert resolve("$aws:plain", settings=settings) == "just-text"
        with pytest.raises(SecretNotFoundError):
            resolve("$aws:missing", settings=settings)
        with pytest.raises(SecretNotFoundError, match="not JSON"):
            resolve("$aws:plain#field", settings=settings)


def test_the_seeds_secrets_example_runs_as_written(secret_settings: Settings) -> None:
    set_secret(secret_settings, "STRIPE_API_KEY", "sk_test_seed", tenant=secret_settings.tenant)
    seed = ("from automate.secrets import resolve\n"
            "\n"
            "# Resolve a secret\n"
            "api_key = resolve(\"$secret:STRIPE_API_KEY\")\n"
            "print(api_key == 'sk_test_seed')\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")},
           "AUTOMATE_DATABASE_URL": secret_settings.dsn, "AUTOMATE_TENANT": secret_settings.tenant,
           "AUTOMATE_SECRET_KEY_FILE": str(secret_settings.secret_key_file)}
    ran = subprocess.run([sys.executable, "-c", seed], capture_output=True, text=True, env=env, timeout=60)
    assert (ran.returncode, ran.stdout.strip()) == (0, "True"), ran.stderr


def test_the_example_workflows_hook_token_resolves_for_its_step(secret_settings: Settings) -> None:
    import yaml

    from automate.runtime.actions import registry
    from automate.runtime.workflows import validate
    from automate.runtime.workflows.store import apply
    from automate.secrets import resolve_in

    example = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "order-fulfilment.yaml"
    spec = validate(yaml.safe_load(example.read_text()), registry.names())
    set_secret(secret_settings, "HOOK_TOKEN", "hook-tok-7", tenant="acme",
               scopes=["automation:order-fulfilment"])
    with psycopg.connect(secret_settings.dsn) as conn:
        assert apply(conn, spec, secret_settings).version == 1  # its reference checked when applied
    notify = spec.step("notify")
    resolved, redactor = resolve_in(notify.input, tenant="acme", settings=secret_settings,
                                    reader=Reader(automation="order-fulfilment", connector="http"))
    assert resolved["headers"] == {"Authorization": "Bearer hook-tok-7"}
    assert redactor.scrub(str(resolved)) == str(notify.input).replace("$secret:HOOK_TOKEN", "[secret]")
