"""The collector held back for a build's bookkeeping and let back in while it waits: nested blocks, and a
collector the caller switched off is never switched on."""

import gc

import pytest

from aiex_kernel.core.gc_pause import paused_gc, resumed_gc


@pytest.fixture(autouse=True)
def collector_on():
    gc.enable()
    yield
    gc.enable()


def test_blocks_nest_and_the_innermost_one_holds():
    seen = []
    with paused_gc():
        seen.append(gc.isenabled())
        with resumed_gc():  # waiting on workers
            seen.append(gc.isenabled())
            with paused_gc():  # a task run here meanwhile
                seen.append(gc.isenabled())
            seen.append(gc.isenabled())
        seen.append(gc.isenabled())
    assert seen == [False, True, False, True, False]
    assert gc.isenabled()


def test_an_error_inside_restores_the_collector():
    with pytest.raises(ValueError), paused_gc():
        with resumed_gc():
            raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_the_caller_switched_off_stays_off():
    gc.disable()
    with paused_gc():
        with resumed_gc():
            assert not gc.isenabled()
    assert not gc.isenabled()
    with resumed_gc():  # outside any paused block it changes nothing
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_resumed_outside_a_paused_block_changes_nothing():
    with resumed_gc():
        assert gc.isenabled()
    assert gc.isenabled()
