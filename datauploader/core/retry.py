"""Retries with exponential backoff for transient faults."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # total tries per request (or per file), the first one included
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.2  # ± fraction of the delay, so that workers do not retry in lockstep

    def delay(self, attempt: int, retry_after: float | None = None, rng=random) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        d = min(self.max_delay, self.base_delay * self.factor ** (attempt - 1))
        if self.jitter:
            d *= 1 + rng.uniform(-self.jitter, self.jitter)
        if retry_after is not None:
            d = max(d, min(retry_after, self.max_delay))
        return d
