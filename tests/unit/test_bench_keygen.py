"""``python -m deepchain.bench keygen``: a real ceremony and the dealer in one run, every
figure it prints also in its JSON."""

from __future__ import annotations

import json

import pytest

from deepchain.bench import keygen


def test_keygen_bench_reports_phases_rounds_bytes_and_the_dealer(tmp_path, monkeypatch):
    out = tmp_path / "keygen.json"
    lines: list[str] = []
    monkeypatch.setattr("builtins.print", lambda *a, **_k: lines.append(" ".join(map(str, a))))
    code = keygen.main(["--parties", "4", "--bits", "256", "--json", str(out)])
    res = json.loads(out.read_text())
    assert code == 0 and res["key_ok"] is True
    assert res["rounds"] == sum(p["rounds"] for p in res["phases"].values()) >= 11
    assert set(res["phases"]) >= {"sieve", "modulus", "biprimality", "key", "share"}
    assert all(b > 0 for b in res["bytes_sent"].values()) and len(res["bytes_sent"]) == 4
    assert res["dealer_cpu_s"] is not None and res["cpu_s"] > 0
    assert lines[-1].startswith("keygen: 256-bit N=4 t=3 dealerless")


def test_keygen_bench_refuses_a_threshold_the_honest_majority_cannot_meet():
    with pytest.raises(ValueError):
        keygen.main(["--parties", "4", "--threshold", "4", "--bits", "256"])
