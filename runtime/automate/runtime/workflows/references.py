"""What a workflow names outside itself, checked against the database when it is applied: each connector
step's connection (it exists, it is a connection of that connector, its configuration is valid) and every
``$secret:`` a step or its connection names (it exists, and this automation and connector may read it).

(``$env:``, ``$vault:`` and ``$aws:`` references are checked when they are used: where the workers run,
not where the workflow is applied.)
"""

from __future__ import annotations

from typing import Any

import psycopg

from automate.db.connections import ConnectionStore
from automate.db.secrets import SecretStore
from automate.errors import ConnectorError, InvalidSecretReference
from automate.runtime.workflows.spec import WorkflowSpec
from automate.secrets import Reader, references_in
from automate.secrets.backends.database import may_read
from automate_connectors.connections import check_config
from automate_connectors.registry import registry as connector_registry

__all__ = ["reference_faults"]


def reference_faults(conn: psycopg.Connection[Any], spec: WorkflowSpec, tenant: str) -> list[tuple[str, str]]:
    """Every fault of what ``spec``'s steps name outside the workflow, as (JSON path, message)."""
    faults: list[tuple[str, str]] = []
    connections, secrets = ConnectionStore(conn), SecretStore(conn)
    for index, step in enumerate(spec.steps):
        base = f"$.steps[{index}]"
        found = connector_registry.find_action(step.action)
        connector_key = found[0].key if found is not None else None
        named: list[tuple[str, Any]] = [(f"{base}.input", step.input)]
        if found is not None and step.connection is not None:
            connection = connections.get(tenant, step.connection)
            if connection is None:
                faults.append((f"{base}.connection", f"tenant {tenant!r} has no connection "
                                                     f"{step.connection!r} (`automate connections set`)"))
            elif connection[0] != connector_key:
                faults.append((f"{base}.connection", f"{step.connection!r} is a {connection[0]} connection, "
                                                     f"not {connector_key}"))
            else:
                try:
                    check_config(found[0], connection[1])
                except ConnectorError as exc:
                    faults.append((f"{base}.connection", exc.message))
                named.append((f"{base}.connection", connection[1]))
        reader = Reader(automation=spec.slug, connector=connector_key)
        for where, value in named:
            try:
                references = references_in(value)
            except InvalidSecretReference as exc:
                faults.append((where, exc.message))
                continue
            for reference in references:
                if reference.scheme != "secret":
                    continue
                row = secrets.get(tenant, reference.name)
                if row is None:
                    faults.append((where, f"{reference.text}: tenant {tenant!r} has no such secret "
                                          "(`automate secrets set`)"))
                elif not may_read(row.scopes, reader):
                    faults.append((where, f"{reference.text} may be read by {', '.join(row.scopes)} only, "
                                          f"not by {reader.describe()}"))
    return faults
