"""Registering the contracts in the schema registry (Confluent-compatible API) and caching their ids in
Postgres, so that emit_event never calls the network. Needs the ``kafka`` extra (httpx)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from automate.config import Settings
from automate.contracts import Contract, ContractSet
from automate.db.schemas import SchemaStore
from automate.errors import RegistryError
from automate.redact import mask_secrets_in

__all__ = ["Incompatible", "Registered", "check_contracts", "register_contracts"]

_CONTENT_TYPE = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


@dataclass(frozen=True, slots=True)
class Registered:
    subject: str
    version: int
    schema_id: int


@dataclass(frozen=True, slots=True)
class Incompatible:
    subject: str
    reason: str


def _all(contracts: ContractSet) -> list[Contract]:
    found: list[Contract] = [contracts.builtin(name) for name in contracts.builtins()]
    for event_type in contracts.event_types():
        contract = contracts.event(event_type)
        assert contract is not None
        found.append(contract)
    return found


def _client(settings: Settings) -> Any:
    import httpx

    return httpx.Client(base_url=settings.registry_url, timeout=15, headers=_CONTENT_TYPE)


def register_contracts(settings: Settings, conn: psycopg.Connection[Any],
                       contracts: ContractSet | None = None) -> list[Registered]:
    """Register every contract (idempotent) and cache subject, version and id in ``schema_id``."""
    import httpx

    contracts = contracts or ContractSet()
    store = SchemaStore(conn)
    done: list[Registered] = []
    try:
        with _client(settings) as http:
            for contract in _all(contracts):
                body = {"schema": contract.canonical, "schemaType": "AVRO"}
                resp = http.post(f"/subjects/{contract.subject}/versions", json=body)
                if resp.status_code == 409:
                    raise RegistryError(
                        f"{contract.subject} is not compatible with its registered versions: "
                        f"{resp.json().get('message', resp.text)[:300]}"
                    )
                resp.raise_for_status()
                # The lookup gives the version too (the register answer only has the id).
                found = http.post(f"/subjects/{contract.subject}", json=body)
                found.raise_for_status()
                info = found.json()
                done.append(Registered(contract.subject, int(info["version"]), int(info["id"])))
                store.cache(subject=contract.subject, version=int(info["version"]), schema_id=int(info["id"]),
                            fingerprint=contract.fingerprint, schema=contract.schema)
    except httpx.HTTPError as exc:
        raise _failed(settings, exc) from exc
    conn.commit()
    return done


def check_contracts(settings: Settings, contracts: ContractSet | None = None) -> list[Incompatible]:
    """The contracts that would break BACKWARD compatibility with their latest registered version."""
    import httpx

    contracts = contracts or ContractSet()
    bad: list[Incompatible] = []
    try:
        with _client(settings) as http:
            for contract in _all(contracts):
                resp = http.post(
                    f"/compatibility/subjects/{contract.subject}/versions/latest",
                    params={"verbose": "true"},
                    json={"schema": contract.canonical, "schemaType": "AVRO"},
                )
                if resp.status_code == 404:
                    continue  # a new subject: nothing to be compatible with
                resp.raise_for_status()
                answer = resp.json()
                if not answer.get("is_compatible", False):
                    reason = "; ".join(answer.get("messages") or []) or "not BACKWARD compatible"
                    bad.append(Incompatible(contract.subject, reason))
    except httpx.HTTPError as exc:
        raise _failed(settings, exc) from exc
    return bad


def _failed(settings: Settings, exc: Any) -> RegistryError:
    """A registry failure: retryable unless the registry refused the request itself (a 4xx)."""
    import httpx

    refused = isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500
    # httpx names the request's whole URL: a password in the registry's URL is masked.
    return RegistryError(mask_secrets_in(f"schema registry at {settings.registry_url} failed: {exc}"),
                         retryable=not refused)
