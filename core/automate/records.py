"""The built-in records (execution requests, step tasks, dead letters, the generic event envelope), encoded
and decoded by the schema ids ``automate migrate`` registered and cached in Postgres."""

from __future__ import annotations

from typing import Any

import psycopg

from automate.config import Settings
from automate.contracts import Contract, ContractSet, decode, encode, split_wire
from automate.db.queries import query

__all__ = ["Records"]


class Records:
    """Encode and decode the built-in records by schema id (ids cached in Postgres by `migrate`)."""

    def __init__(self, settings: Settings, contracts: ContractSet | None = None) -> None:
        self.contracts = contracts or ContractSet()
        self.by_id: dict[int, Contract] = {}
        self.id_of: dict[str, int] = {}
        builtins = {self.contracts.builtin(n).fingerprint: self.contracts.builtin(n)
                    for n in self.contracts.builtins()}
        with psycopg.connect(settings.dsn) as conn:
            for fingerprint, schema_id in conn.execute(query("outbox", "schema_ids")).fetchall():
                contract = builtins.get(str(fingerprint))
                if contract is not None:
                    self.by_id[int(schema_id)] = contract
                    self.id_of[contract.full_name] = int(schema_id)

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        contract = self.contracts.builtin(name)
        schema_id = self.id_of.get(contract.full_name)
        if schema_id is None:
            raise LookupError(f"{contract.full_name} is not registered: run `automate migrate`")
        return encode(contract, schema_id, record)

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(record name, record); ValueError/LookupError for a record we cannot read."""
        schema_id, _ = split_wire(data)
        contract = self.by_id.get(schema_id)
        if contract is None:
            raise LookupError(f"unknown schema id {schema_id}")
        return str(contract.schema["name"]), decode(contract, data)
