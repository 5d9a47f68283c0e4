"""The duplicate-ciphertext rule: what the platform applies at submission (in submission
order) is exactly what the auditor re-checks over the history, in any chain order."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.duplicates import Gradient, check_history, ciphertext_digest, find_duplicate

updates = st.lists(st.lists(st.integers(1, 12), min_size=1, max_size=4), min_size=1, max_size=8)


def platform(history: list[list[int]]) -> list[Gradient]:
    """Submission order: refuse a copy (naming the first), register everything else."""
    seen: dict[str, str] = {}
    out = []
    for k, cts in enumerate(history):
        tx = f"tx{k}"
        ds = tuple(ciphertext_digest(c) for c in cts)
        dup = find_duplicate(ds, seen, tx)
        if dup is None:
            seen.update(dict.fromkeys(ds, tx))
        out.append(Gradient(tx, ds, None if dup is None else dup.first))
    return out


@settings(max_examples=200, deadline=None)
@given(history=updates, seed=st.integers(0, 2**32))
def test_the_platforms_refusals_audit_clean_in_any_chain_order(history, seed):
    grads = platform(history)
    random.Random(seed).shuffle(grads)
    assert check_history(grads) == {}


@settings(max_examples=200, deadline=None)
@given(history=updates)
def test_a_copy_let_through_or_a_false_refusal_is_named(history):
    grads = platform(history)
    for k, g in enumerate(grads):
        if g.duplicate_of is not None:  # the platform lets this copy through
            let_through = [*grads[:k], Gradient(g.tx, g.digests, None), *grads[k + 1 :]]
            assert g.tx in check_history(let_through)
        else:  # the platform refuses an update that copies nothing it names
            other = next((x.tx for x in grads if x.tx != g.tx and x.duplicate_of is None), None)
            if other is not None and not set(g.digests) & set(grads[int(other[2:])].digests):
                framed = [*grads[:k], Gradient(g.tx, g.digests, other), *grads[k + 1 :]]
                assert g.tx in check_history(framed)


def test_a_ciphertext_repeated_inside_one_update_is_a_copy():
    ds = [ciphertext_digest(c) for c in (5, 6, 5)]
    dup = find_duplicate(ds, {}, "tx0")
    assert dup is not None and dup.position == 2 and dup.first == "tx0"
    assert "ciphertext 2" in dup.reason()
