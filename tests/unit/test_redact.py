"""automate.redact: no password survives in a printed URL, DSN or message; everything else does."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from automate.redact import MASK, mask_secrets_in, mask_url


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://app:s3cret@db:5432/app", "postgresql://app:***@db:5432/app"),
    ("postgresql://app@db:5432/app", "postgresql://app@db:5432/app"),
    ("postgresql://:pw@db/app", "postgresql://:***@db/app"),
    ("postgresql://app:p%40ss@db1:5432,db2:5432/app?sslmode=require",
     "postgresql://app:***@db1:5432,db2:5432/app?sslmode=require"),
    ("postgresql://app:a@b@db/app", "postgresql://app:***@db/app"),  # an unescaped '@': the last one ends it
    ("postgresql://app@db/app?password=s3cret&sslmode=require",
     "postgresql://app@db/app?password=***&sslmode=require"),
    ("host=db user=app password=s3cret dbname=app", "host=db user=app password=*** dbname=app"),
    ("host=db password='s3 c\\'ret' dbname=app", "host=db password=*** dbname=app"),
    ("http://user:tok@registry.internal:8081/apis/ccompat/v7", "http://user:***@registry.internal:8081/apis/ccompat/v7"),
    ("http://127.0.0.1:28083", "http://127.0.0.1:28083"),
    ("127.0.0.1:29092,kafka-2:9092", "127.0.0.1:29092,kafka-2:9092"),
])
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_every_url_of_a_message_is_masked() -> None:
    text = "PUT http://u:p1@connect:8083/x failed; database postgresql://a:p2@db/app (password=p3)"
    out = mask_secrets_in(text)
    assert "p1" not in out and "p2" not in out and "p3" not in out
    assert out.count(MASK) == 3
    assert "connect:8083/x" in out and "db/app" in out


@given(st.text(min_size=1, max_size=40))
def test_no_percent_encoded_password_survives(password: str) -> None:
    url = f"postgresql://automate:{quote(password, safe='')}@127.0.0.1:25432/automate"
    masked = mask_url(url)
    assert urlsplit(masked).password == MASK
    assert psycopg.conninfo.conninfo_to_dict(masked)["host"] == "127.0.0.1"


def test_a_registry_error_names_the_registry_without_its_password() -> None:
    from automate.config import Settings
    from automate.errors import RegistryError
    from automate.registry import check_contracts

    settings = Settings(schema_registry_url="http://reader:s3cret@127.0.0.1:1/apis/ccompat/v7")
    with pytest.raises(RegistryError) as caught:
        check_contracts(settings)  # nothing listens on port 1
    assert "s3cret" not in str(caught.value)
    assert "http://reader:***@127.0.0.1:1/apis/ccompat/v7" in str(caught.value)


def test_worker_logs_mask_passwords() -> None:
    import subprocess
    import sys

    script = ("import logging; from automate.cli.common import setup_logging; setup_logging('INFO'); "
              "logging.getLogger('automate.test').warning('cannot reach postgresql://app:s3cret@db/app')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "postgresql://app:***@db/app" in result.stderr and "s3cret" not in result.stderr


def test_the_settings_repr_holds_no_database_password() -> None:
    from automate.config import Settings

    settings = Settings(database_url="postgresql://app:s3cr3t@db/app")
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings)
    assert settings.dsn == "postgresql://app:s3cr3t@db/app"
