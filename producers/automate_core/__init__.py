"""The shared core of Automate that services embed (the outbox store and reaper)."""
