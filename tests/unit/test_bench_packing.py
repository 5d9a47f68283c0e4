"""``python -m deepchain.bench packing``: measures the fixed-point twin's accuracy at each Q
against float FedAvg and chooses Q by the stated rule."""

from __future__ import annotations

import json

import pytest

from deepchain.bench import packing


def test_it_measures_each_q_and_chooses_by_the_rule(tmp_path, monkeypatch: pytest.MonkeyPatch):
    out = tmp_path / "packing.json"
    lines: list[str] = []
    monkeypatch.setattr("builtins.print", lambda *a, **_k: lines.append(" ".join(map(str, a))))
    code = packing.main(
        ["--models", "tiny", "--qs", "5,20", "--rounds", "1", "--local-iterations", "5",
         "--parties", "2", "--json", str(out)]
    )  # fmt: skip
    assert code == 0
    res = json.loads(out.read_text())["tiny"]
    acc = {int(q): r["accuracy"] for q, r in res["by_q"].items()}
    assert set(acc) == {5, 20}
    assert res["chosen_q"] == packing.choose_q(res["float_accuracy"], acc, 0.001)
    # more bits per value: fewer slots per ciphertext, more ciphertexts
    assert res["by_q"]["5"]["slots"] > res["by_q"]["20"]["slots"]
    assert lines[-1].startswith("SUMMARY packing:") and f"tiny Q={res['chosen_q']}" in lines[-1]
