"""Trusted time clock: deadlines, updateTime() extension, idempotent close, lateness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.incentives.clock import (
    ROUND_ORDER,
    ContractError,
    Deadlines,
    LateError,
    ManualClock,
    Phase,
    RoundSchedule,
    SystemClock,
)

START = 1_000_000


def sched(ms: int = 10_000) -> RoundSchedule:
    return Deadlines.uniform(ms).schedule(START, group="g", round_no=3)


def test_round_order_runs_trading_then_processing_then_decryption():
    assert ROUND_ORDER == (
        Phase.T1, Phase.T2, Phase.T3, Phase.T7, Phase.T8, Phase.T9, Phase.T4, Phase.T5, Phase.T6
    )  # fmt: skip
    s = sched()
    assert [s.deadline(p) for p in ROUND_ORDER] == [START + 10_000 * k for k in range(1, 10)]
    assert s.deadline(Phase.T9) < s.deadline(Phase.T4)


def test_manual_clock_moves_only_forward():
    c = ManualClock(5)
    assert c.advance(10) == 15 and c.set(20) == 20 and c.now_ms() == 20
    with pytest.raises(ValueError):
        c.set(19)
    with pytest.raises(ValueError):
        c.advance(-1)
    assert SystemClock().now_ms() > 1_600_000_000_000


def test_deadlines_are_configurable_and_roundtrip_json():
    d = Deadlines.default(T1=5_000, T5=7_000)
    assert d.durations_ms[Phase.T1] == 5_000 and d.durations_ms[Phase.T5] == 7_000
    assert Deadlines.from_json(d.to_json()) == d
    with pytest.raises(ValueError):
        Deadlines({Phase.T1: 5})
    with pytest.raises(ValueError):
        Deadlines.uniform(0)


def test_a_message_one_second_late_is_late_and_on_the_deadline_is_on_time():
    s = sched()
    t1 = s.deadline(Phase.T1)
    s.check_on_time(Phase.T1, t1)
    with pytest.raises(LateError) as e:
        s.check_on_time(Phase.T1, t1 + 1_000)
    assert (e.value.phase, e.value.deadline_ms, e.value.at_ms, e.value.late_by_ms) == (
        Phase.T1, t1, t1 + 1_000, 1_000
    )  # fmt: skip
    assert s.time_left_ms(Phase.T1, t1 - 250) == 250 and s.time_left_ms(Phase.T1, t1 + 5) == 0


def test_late_close_extends_every_later_deadline_by_the_overrun():
    s = sched()
    t1 = s.deadline(Phase.T1)
    s2 = s.close_phase(Phase.T1, t1 + 4_321)
    assert s2 is not None and s2.closed_at(Phase.T1) == t1 + 4_321
    assert s2.deadline(Phase.T1) == t1
    for p in ROUND_ORDER[1:]:
        assert s2.deadline(p) == s.deadline(p) + 4_321  # T'_tk = T_tk + |overrun|
    # a message for T2 that would have been late is now on time
    s2.check_on_time(Phase.T2, s.deadline(Phase.T2) + 4_000)


def test_early_close_does_not_shorten_later_windows_but_opens_the_next_phase():
    s = sched()
    s2 = s.close_phase(Phase.T1, START + 2_000)
    assert s2 is not None
    assert all(s2.deadline(p) == s.deadline(p) for p in ROUND_ORDER)
    assert s2.opens_at(Phase.T2) == START + 2_000
    assert s2.is_open(Phase.T2, START + 2_000) and not s2.is_open(Phase.T1, START + 1_000)


def test_closing_a_phase_twice_closes_it_once():
    s = sched()
    t1 = s.deadline(Phase.T1)
    s2 = s.close_phase(Phase.T1, t1 + 100)
    assert s2 is not None
    assert s2.close_phase(Phase.T1, t1 + 9_999) is None  # no-op: no second extension
    assert s2.deadline(Phase.T2) == s.deadline(Phase.T2) + 100


def test_phases_close_in_round_order():
    s = sched()
    with pytest.raises(ContractError):
        s.close_phase(Phase.T2, s.deadline(Phase.T2))
    s = s.close_phase(Phase.T1, s.deadline(Phase.T1))
    s = s.close_phase(Phase.T2, s.deadline(Phase.T2))
    s = s.close_phase(Phase.T3, s.deadline(Phase.T3))
    with pytest.raises(ContractError):
        s.close_phase(Phase.T4, s.deadline(Phase.T4))  # T7..T9 come first
    assert s.current_phase(s.deadline(Phase.T3)) == Phase.T7


def test_current_phase_and_overdue_follow_the_clock():
    clock = ManualClock(START - 1)
    s = sched()
    assert s.current_phase(clock.now_ms()) is None
    clock.set(START)
    assert s.current_phase(clock.now_ms()) == Phase.T1 and s.is_open(Phase.T1, clock.now_ms())
    clock.set(s.deadline(Phase.T2) + 1)
    assert s.overdue(clock.now_ms()) == [Phase.T1, Phase.T2]
    assert s.current_phase(clock.now_ms()) == Phase.T1  # stays until closed
    assert not s.is_open(Phase.T1, clock.now_ms())
    for p in ROUND_ORDER:
        s = s.close_phase(p, max(clock.now_ms(), s.opens_at(p)))
    assert s.current_phase(clock.now_ms()) is None


def test_schedule_roundtrips_json():
    s = sched().close_phase(Phase.T1, START + 10_500)
    assert RoundSchedule.from_json(s.to_json()) == s
    assert RoundSchedule.from_json(s.to_dict()) == s


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 50_000), min_size=9, max_size=9),
    st.lists(st.integers(-5_000, 20_000), min_size=9, max_size=9),
)
def test_update_time_accumulates_the_overruns(durations, offsets):
    s = Deadlines(dict(zip(ROUND_ORDER, durations, strict=True))).schedule(START)
    original = {p: s.deadline(p) for p in ROUND_ORDER}
    total = 0
    for p, off in zip(ROUND_ORDER, offsets, strict=True):
        at = max(s.opens_at(p), s.deadline(p) + off)
        overrun = max(0, at - s.deadline(p))
        s = s.close_phase(p, at)
        assert s.closed_at(p) == at
        total += overrun
        nxt = ROUND_ORDER.index(p) + 1
        for q in ROUND_ORDER[nxt:]:
            assert s.deadline(q) == original[q] + total
        # deadlines stay strictly increasing
        dl = [s.deadline(q) for q in ROUND_ORDER]
        assert dl == sorted(dl) and len(set(dl)) == len(dl)
