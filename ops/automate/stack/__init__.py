"""The local stack: PostgreSQL, Kafka, Kafka Connect + Debezium, Apicurio Registry and Prometheus as
plain processes under ``.automate/``, started and stopped by ``automate up`` / ``automate down``."""

from __future__ import annotations

from automate.errors import MissingDependencyError, PortInUseError, ServiceStartError, StackError
from automate.stack.stack import ServiceStatus, Stack

__all__ = [
    "MissingDependencyError",
    "PortInUseError",
    "ServiceStartError",
    "ServiceStatus",
    "Stack",
    "StackError",
]
