"""The project's topics: what each is called, the retry tiers, and creating them (the broker does not
auto-create topics).

With the topic prefix ``automate`` (``AUTOMATE_TOPIC_PREFIX``):

========================= =================================================================
``automate.events``       every emitted event (the outbox's publisher writes it)
``automate.workflow.<s>`` execution requests and step tasks of workflow ``<s>``
``automate.retry.<tier>`` step tasks waiting for their retry or wait, one topic per tier
``automate.dlq``          dead letters
========================= =================================================================

A workflow topic is named by slug only, so a slug belongs to one tenant: applying a slug another
tenant's automation has is refused (``automate.runtime.workflows.tenants``; docs/runtime.md, "Tenants").

A retry tier has one fixed delay, so the records of a tier's partition fall due in the order they
arrive; a deferred step goes to the smallest tier at least its delay (:func:`tier_for`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from automate.config import Settings

log = logging.getLogger("automate.topics")

__all__ = [
    "RETRY_TIERS",
    "RetryTier",
    "core_topics",
    "dlq_topic",
    "ensure_topics",
    "events_topic",
    "is_workflow_topic",
    "retry_topic",
    "tier_for",
    "workflow_topic",
    "workflow_topics_pattern",
]


@dataclass(frozen=True, slots=True)
class RetryTier:
    """A retry topic and the fixed delay of its records."""

    name: str
    delay_s: float


RETRY_TIERS: tuple[RetryTier, ...] = (RetryTier("1s", 1.0), RetryTier("10s", 10.0), RetryTier("1m", 60.0),
                                      RetryTier("10m", 600.0), RetryTier("1h", 3600.0))


def tier_for(delay: float) -> RetryTier:
    """The smallest tier whose delay is at least ``delay`` seconds (the longest for longer delays)."""
    for tier in RETRY_TIERS:
        if tier.delay_s >= delay:
            return tier
    return RETRY_TIERS[-1]


def events_topic(settings: Settings) -> str:
    return settings.topic("events")


def dlq_topic(settings: Settings) -> str:
    return settings.topic("dlq")


def workflow_topic(settings: Settings, slug: str) -> str:
    """The topic of workflow ``slug``'s execution requests and step tasks."""
    return settings.topic(f"workflow.{slug}")


def workflow_topics_pattern(settings: Settings) -> str:
    """A regular expression (librdkafka's ``^`` form) naming every workflow topic."""
    return "^" + re.escape(settings.topic("workflow.")) + ".*"


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # a workflow slug (SLUG_PATTERN of the workflow files)


def is_workflow_topic(settings: Settings, name: str) -> bool:
    """Whether ``name`` is the topic of a workflow of this deployment (its prefix): the only topics a
    retried step task may go back to."""
    stem = settings.topic("workflow.")
    return name.startswith(stem) and _SLUG.fullmatch(name[len(stem):]) is not None


def retry_topic(settings: Settings, tier: RetryTier) -> str:
    return settings.topic(f"retry.{tier.name}")


def core_topics(settings: Settings) -> list[str]:
    """Topics every deployment has: the events, the dead letters, the retry tiers."""
    return [events_topic(settings), dlq_topic(settings), *(retry_topic(settings, t) for t in RETRY_TIERS)]


def ensure_topics(settings: Settings, names: Iterable[str], *, partitions: int | None = None,
                  timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet (``partitions``: the settings' ``topic_partitions``), each
    with the ``max.message.bytes`` the size limit calls for (:mod:`automate.sizes`); returns those
    created. Topics that exist are left as they are: one whose limit is below it is named in a warning
    (raise its ``max.message.bytes``: its records above the limit would be refused). Needs the ``kafka``
    extra.

    Raises:
        TransportError: Kafka could not be reached (retryable) or refused a topic.
    """
    from automate.sizes import topic_max_bytes
    from automate.transport import KafkaException, create_topics, topic_limits

    names = list(dict.fromkeys(names))
    created = create_topics(settings, names, partitions=partitions or settings.topic_partitions,
                            timeout=timeout)
    wanted = topic_max_bytes(settings)
    try:
        limits = topic_limits(settings, [n for n in names if n not in created], timeout=timeout)
    except KafkaException as exc:  # only a check: the topics are there
        log.debug("topic limits not read: %s", exc)
        return created
    for name, limit in sorted(limits.items()):
        if limit < wanted:
            log.warning("topic %s takes records up to %d bytes, below the %d AUTOMATE_MAX_PAYLOAD_BYTES "
                        "calls for: raise its max.message.bytes", name, limit, wanted,
                        extra={"action": "topics.limit_below", "topic": name, "limit": limit,
                               "wanted": wanted})
    return created
