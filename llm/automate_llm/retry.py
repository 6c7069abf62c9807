"""One retry policy for every provider: the SDKs' own retries are turned off so that 429, 5xx, timeouts
and refused connections are retried the same way whoever answers, honoring the server's retry-after.

After ``max_retries`` retries the last LlmUnavailable propagates (retryable, with the server's
``retry_after``), so a workflow step hands the wait to the runtime's retry tiers instead of holding a
worker. A retry-after longer than ``max_wait`` is not waited for in-process at all, for the same reason.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from automate.errors import LlmUnavailable

__all__ = ["RetryPolicy", "arun", "run"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to wait before trying a call again.

    Attributes:
        max_retries: Retries after the first attempt (``settings.llm_max_retries``).
        initial: The first backoff, seconds, doubled each time up to ``cap`` (with jitter), when the
            server did not say how long.
        max_wait: The longest retry-after waited for in-process.
    """

    max_retries: int = 3
    initial: float = 0.5
    cap: float = 8.0
    max_wait: float = 60.0

    def delay(self, retry: int, error: LlmUnavailable) -> float | None:
        """Seconds before retry number ``retry`` (1-based) after ``error``; None: give up."""
        if retry > self.max_retries:
            return None
        if error.retry_after is not None:
            after = float(error.retry_after)
            return after if after <= self.max_wait else None
        backoff = min(self.cap, self.initial * 2.0 ** (retry - 1))
        return backoff * (0.5 + random.random() / 2)  # jitter, not cryptography


def run(call: Callable[[], T], policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()`` until it does not raise LlmUnavailable or the policy gives up (async twin: :func:`arun`)."""
    retry = 0
    while True:
        try:
            return call()
        except LlmUnavailable as error:
            retry += 1
            wait = policy.delay(retry, error)
            if wait is None:
                raise
            sleep(wait)


async def arun(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Async twin of :func:`run`."""
    retry = 0
    while True:
        try:
            return await call()
        except LlmUnavailable as error:
            retry += 1
            wait = policy.delay(retry, error)
            if wait is None:
                raise
            await asyncio.sleep(wait)
