"""A circuit breaker per provider, as a pure function of its recent outcomes.

After ``THRESHOLD`` failures in a row a provider's circuit *opens*: calls fail at
once for ``COOLDOWN`` seconds instead of waiting on a server that is down. Then it
is *half-open*: one call may try; a success closes it, a failure opens it again.
The outcomes come from the event log (answers and failures), so every process on
the machine sees the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["COOLDOWN", "THRESHOLD", "Breaker", "breaker_state"]

THRESHOLD = 3
COOLDOWN = 30.0


@dataclass(frozen=True)
class Breaker:
    state: str  #: "closed", "open" or "half-open"
    failures: int  #: failures in a row, most recent last
    retry_in: float = 0.0  #: seconds until a call may try again (open only)

    @property
    def allows(self) -> bool:
        return self.state != "open"


def breaker_state(outcomes: Sequence[tuple[float, bool]], now: float, *, threshold: int | None = None,
                  cooldown: float | None = None) -> Breaker:
    """The breaker for ``outcomes``: ``(at, succeeded)`` of a provider's calls, oldest first
    (``threshold`` and ``cooldown`` default to the module's :data:`THRESHOLD` and :data:`COOLDOWN`)."""
    threshold = THRESHOLD if threshold is None else threshold
    cooldown = COOLDOWN if cooldown is None else cooldown
    failures = 0
    for _, ok in reversed(outcomes):
        if ok:
            break
        failures += 1
    if failures < threshold:
        return Breaker("closed", failures)
    last = outcomes[-1][0]
    waited = now - last
    if waited < cooldown:
        return Breaker("open", failures, round(cooldown - waited, 1))
    return Breaker("half-open", failures)
