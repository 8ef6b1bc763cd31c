"""A token bucket: at most `rate` sends a second per provider account, with bursts of
`burst`. The providers throttle an account that goes faster (Aliyun `Throttling.User`,
Tencent `RequestLimitExceeded`); keeping under their limit costs less than being refused.

One bucket per gateway (one gateway is one account's client), held by the process's sender:
several processes sending for one account each need their share of its limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = threading.Lock()
        #: seconds callers waited in all, for the metrics and the benchmark
        self.waited = 0.0

    def reserve(self) -> float:
        """Take a token and return how long to wait before using it (0 when one was there).
        Tokens may go negative: each caller waits its turn, in order."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            self.waited += wait
            return wait

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a token; False when `stop` was set meanwhile (the token is spent)."""
        wait = self.reserve()
        if wait <= 0:
            return True
        if stop is None:
            time.sleep(wait)
            return True
        return not stop.wait(wait)
