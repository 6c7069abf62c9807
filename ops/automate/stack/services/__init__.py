"""The services of the local stack, one module each; SERVICES is the registry, in start order."""

from __future__ import annotations

from automate.stack.base import Service
from automate.stack.services.connect import Connect
from automate.stack.services.kafka import Kafka
from automate.stack.services.postgres import Postgres
from automate.stack.services.prometheus import Prometheus
from automate.stack.services.registry import Registry

__all__ = ["SERVICES"]

SERVICES: tuple[type[Service], ...] = (Postgres, Kafka, Connect, Registry, Prometheus)
