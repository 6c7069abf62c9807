"""The shared core of Automate that services embed: the transactional outbox (`automate_core.outbox`)."""

__all__: list[str] = []
