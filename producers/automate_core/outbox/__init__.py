"""The transactional outbox as the built-in relay sees it: claims with leases, and the reaper."""

from __future__ import annotations

from automate_core.outbox.reaper import OutboxReaper
from automate_core.outbox.store import OutboxItem, OutboxStore, SkipLockedClaimOutboxStore

__all__ = ["OutboxItem", "OutboxReaper", "OutboxStore", "SkipLockedClaimOutboxStore"]
