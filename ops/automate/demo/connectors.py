"""The demo's connector workflow (``examples/demo/fulfilment.yaml``): the local peers it acts on, the
secrets and connections it acts with, and what the peers received."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automate.config import Settings
from automate.demo.peers import SmtpPeer, moto_server, smtp_server
from automate.runtime.workflows import WorkflowSpec
from automate.secrets.admin import set_secret
from automate_connectors.connections import set_connection

__all__ = ["BUCKET", "ConnectorPeers", "check_peers", "connector_peers", "uses_connections"]

BUCKET = "demo-invoices"
_REGION = "us-east-1"


@dataclass
class ConnectorPeers:
    smtp: SmtpPeer
    aws_endpoint: str

    def emails(self) -> int:
        return len(self.smtp.messages)

    def objects(self) -> int:
        pages = _s3(self.aws_endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return sum(page.get("KeyCount", 0) for page in pages)


def uses_connections(specs: list[WorkflowSpec]) -> bool:
    return any(step.connection is not None for spec in specs for step in spec.steps)


def _s3(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=_REGION, aws_access_key_id="demo",
                        aws_secret_access_key="demo")


@contextmanager
def connector_peers(settings: Settings, tenant: str, directory: Path) -> Iterator[ConnectorPeers]:
    """Start the peers, store the credentials as secrets (new ones each run) and the connections
    ``demo-mail`` and ``demo-s3`` naming them; stop the peers on exit."""
    password = secrets.token_urlsafe(16)
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        smtp = stack.enter_context(smtp_server(directory, user="demo", password=password))
        endpoint = stack.enter_context(moto_server())
        set_secret(settings, "DEMO_SMTP_PASSWORD", password, tenant=tenant, scopes=["connector:email"])
        set_secret(settings, "DEMO_AWS_KEY_ID", "AKIA" + secrets.token_hex(8).upper(), tenant=tenant,
                   scopes=["connector:aws"])
        set_secret(settings, "DEMO_AWS_SECRET", secrets.token_urlsafe(30), tenant=tenant,
                   scopes=["connector:aws"])
        set_connection(settings, "demo-mail", "email", {
            "host": smtp.host, "port": smtp.port, "username": "demo",
            "password": "$secret:DEMO_SMTP_PASSWORD", "from_address": "shop@demo.example",
            "ca_file": smtp.ca_file}, tenant=tenant)
        set_connection(settings, "demo-s3", "aws", {
            "endpoint_url": endpoint, "region": _REGION, "access_key_id": "$secret:DEMO_AWS_KEY_ID",
            "secret_access_key": "$secret:DEMO_AWS_SECRET"}, tenant=tenant)
        _s3(endpoint).create_bucket(Bucket=BUCKET)
        yield ConnectorPeers(smtp, endpoint)


def check_peers(peers: ConnectorPeers, specs: list[WorkflowSpec],
                expected: dict[str, tuple[str, Any]]) -> list[str]:
    """Print what the peers received against what the succeeded executions must have sent; returns the
    differences. ``expected``: execution id to (slug, expected outcome)."""
    from rich.table import Table

    from automate.demo.view import make_console

    steps = {spec.slug: [step.action for step in spec.steps] for spec in specs}
    succeeded = [slug for slug, outcome in expected.values() if outcome.status == "SUCCESS"]
    want = {"email.send": sum(steps[slug].count("email.send") for slug in succeeded),
            "aws.s3_put_object": sum(steps[slug].count("aws.s3_put_object") for slug in succeeded)}
    got = {"email.send": peers.emails(), "aws.s3_put_object": peers.objects()}
    table = Table("connector peer", "expected", "received", title="Connectors", title_justify="left")
    table.add_row("SMTP server: e-mails (STARTTLS, login)", str(want["email.send"]), str(got["email.send"]))
    table.add_row(f"S3 (moto): objects in {BUCKET}", str(want["aws.s3_put_object"]),
                  str(got["aws.s3_put_object"]))
    make_console(stderr=False).print(table)
    return [f"{action}: {got[action]} received by the local peer, expected {want[action]}"
            for action in want if got[action] != want[action]]
