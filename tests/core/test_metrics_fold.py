"""The metrics fold (pure): a stopped turn leaves nothing waiting and counts no request."""

from aiex_kernel.core.events import Answered, Cancelled, TurnStarted
from aiex_kernel.core.metrics import Metrics


def test_a_cancelled_turn_is_forgotten_and_counts_nothing():
    m = Metrics()
    m.fold([(1, TurnStarted("s", 1.0, turn="t1", model="openai:gpt-4o")),
            (2, TurnStarted("s", 2.0, turn="t2", model="openai:gpt-4o")),
            (3, Cancelled("s", 3.0, turn="t1")),
            (4, Answered("s", 4.0, turn="t2", provider="openai", model="gpt-4o", latency_s=0.3))])
    assert m._models == {} and m.position == 4
    assert dict(m.requests) == {("openai", "gpt-4o", "ok"): 1}
    assert "Cancelled" in Metrics.KINDS and "TurnStarted" in Metrics.KINDS
