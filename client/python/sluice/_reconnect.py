"""Backoff between connection attempts, shared by Client and AsyncClient
(the two differ only in how they sleep and connect)."""

from __future__ import annotations

import time

from .errors import Unavailable


class Reconnect:
    """Attempts are spaced ``initial`` seconds doubling to ``maximum``; a
    success resets the spacing. Not thread-safe: the caller holds its
    connect lock."""

    def __init__(self, initial: float, maximum: float):
        self.initial = initial
        self.maximum = maximum
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._last_error = ""

    def wait(self, now: float, deadline: float) -> tuple[float, bool]:
        """(seconds to sleep before the next attempt, whether that is past
        ``deadline``: then sleep until the deadline and raise unreachable())."""
        if self._next_attempt <= now:
            return 0.0, False
        if self._next_attempt >= deadline:
            return max(0.0, deadline - now), True
        return self._next_attempt - now, False

    def failed(self, message: str) -> None:
        self._last_error = message
        self._backoff = (
            self.initial if self._backoff == 0 else min(self._backoff * 2, self.maximum)
        )
        self._next_attempt = time.monotonic() + self._backoff

    def succeeded(self) -> None:
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._last_error = ""

    def unreachable(self, endpoint: str) -> Unavailable:
        last = self._last_error or "still connecting"
        return Unavailable(f"cannot reach broker {endpoint} ({last}); is sluiced running? retry later")
