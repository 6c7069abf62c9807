"""The connectors that come with Automate, each through the real client library of its service."""

from __future__ import annotations

from automate_connectors.base import Connector
from automate_connectors.builtin.aws import AwsConnector
from automate_connectors.builtin.email import EmailConnector
from automate_connectors.builtin.http import HttpConnector
from automate_connectors.builtin.kafka import KafkaConnector
from automate_connectors.builtin.postgres import PostgresConnector
from automate_connectors.builtin.slack import SlackConnector
from automate_connectors.builtin.webhook import WebhookConnector

__all__ = ["BUILTIN"]

BUILTIN: tuple[type[Connector], ...] = (AwsConnector, EmailConnector, HttpConnector, KafkaConnector,
                                        PostgresConnector, SlackConnector, WebhookConnector)
