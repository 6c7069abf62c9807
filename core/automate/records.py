"""The built-in records (execution requests, step tasks, dead letters, the generic event envelope), encoded
and decoded by the schema ids ``automate migrate`` registered and cached in Postgres."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automate.config import Settings
from automate.contracts import Contract, ContractSet, decode, encode, split_wire
from automate.errors import ConfigurationError, ErrorCodes, RecordError

__all__ = ["Records"]


class Records:
    """Encode and decode the built-in records by schema id.

    ``ids`` maps a contract's fingerprint to its registered schema id (:meth:`load` reads them from
    Postgres); contracts without an id can be decoded by nobody and encoded by nobody.
    """

    def __init__(self, ids: Mapping[str, int], contracts: ContractSet | None = None) -> None:
        self.contracts = contracts or ContractSet()
        self.by_id: dict[int, Contract] = {}
        self.id_of: dict[str, int] = {}
        for name in self.contracts.builtins():
            contract = self.contracts.builtin(name)
            schema_id = ids.get(contract.fingerprint)
            if schema_id is not None:
                self.by_id[schema_id] = contract
                self.id_of[contract.full_name] = schema_id

    @classmethod
    def load(cls, settings: Settings, contracts: ContractSet | None = None) -> Records:
        """The records of the deployment ``settings`` names (its schema ids, read from Postgres once)."""
        from automate.db import connect
        from automate.db.schemas import SchemaStore

        with connect(settings, application_name="automate-records") as conn:
            return cls(SchemaStore(conn).ids_by_fingerprint(), contracts)

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        """``record`` as the built-in record ``name`` (e.g. ``DeadLetter``) in the Confluent wire format.

        Raises:
            ConfigurationError: The record's schema is not registered (run ``automate migrate``).
        """
        contract = self.contracts.builtin(name)
        schema_id = self.id_of.get(contract.full_name)
        if schema_id is None:
            raise ConfigurationError(f"{contract.full_name} is not registered: run `automate migrate`")
        return encode(contract, schema_id, record)

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(record name, record) of a framed built-in record.

        Raises:
            RecordError: Not framed, an unknown schema id, or a body its schema cannot decode.
        """
        schema_id, _ = split_wire(data)
        contract = self.by_id.get(schema_id)
        if contract is None:
            raise RecordError(ErrorCodes.RECORD_UNREADABLE, f"unknown schema id {schema_id}")
        try:
            return str(contract.schema["name"]), decode(contract, data)
        except Exception as exc:  # fastavro raises many types (EOFError, ValueError...) for a bad body
            raise RecordError(ErrorCodes.RECORD_UNREADABLE,
                              f"cannot decode a {contract.full_name}: {type(exc).__name__}: {exc}"[:500]
                              ) from None
