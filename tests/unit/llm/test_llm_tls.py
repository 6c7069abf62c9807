"""The providers' TLS context trusts what httpx would: SSL_CERT_FILE or SSL_CERT_DIR when set (a
company's proxy CA), else certifi's roots."""

from __future__ import annotations

from pathlib import Path

import certifi
import pytest

from automate_llm.providers.base import tls_context


def _first_certificate() -> str:
    bundle = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    return bundle[bundle.index("-----BEGIN CERTIFICATE-----"):bundle.index(end) + len(end)] + "\n"


def test_ssl_cert_file_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    assert len(tls_context().get_ca_certs()) > 10  # certifi's roots
    own = tmp_path / "ca.pem"
    own.write_text(_first_certificate())
    monkeypatch.setenv("SSL_CERT_FILE", str(own))
    assert len(tls_context().get_ca_certs()) == 1  # that file's roots only, as httpx does
    monkeypatch.delenv("SSL_CERT_FILE")
    assert len(tls_context().get_ca_certs()) > 10


def test_ssl_cert_dir_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    # a directory's certificates are loaded when a handshake needs them: none are loaded up front
    assert tls_context().get_ca_certs() == []
