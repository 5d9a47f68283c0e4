"""``python -m deepchain.bench training``: the encrypted run (real threshold Paillier keys,
proofs, shares) matches its plaintext fixed-point twin and reports every figure it prints."""

from __future__ import annotations

import json

import pytest

from deepchain.bench import training


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, str]:
    out = tmp_path_factory.mktemp("bench") / "training.json"
    capture = pytest.MonkeyPatch()
    lines: list[str] = []
    capture.setattr("builtins.print", lambda *a, **_k: lines.append(" ".join(map(str, a))))
    try:
        code = training.main(
            ["--quick", "--model", "tiny", "--parties", "3", "--key-bits", "512",
             "--json", str(out)]
        )  # fmt: skip
    finally:
        capture.undo()
    return code, json.loads(out.read_text()), "\n".join(lines)


def test_encrypted_training_equals_its_plaintext_twin(run: tuple[int, dict, str]) -> None:
    code, res, _ = run
    assert code == 0
    assert res["encrypted_accuracy"] == res["plaintext_twin_accuracy"]
    assert len(res["encrypted_curve"]) == res["config"]["rounds"] == 3
    assert res["encrypted_curve"][-1] > 0.5, "the tiny model learned nothing in 3 rounds"


def test_threshold_defaults_to_an_honest_majority(run: tuple[int, dict, str]) -> None:
    _, res, _ = run
    assert (res["parties"], res["threshold"]) == (3, 2)


def test_it_reports_each_baseline_and_the_time_split(run: tuple[int, dict, str]) -> None:
    _, res, out = run
    for key in ("centralized_accuracy", "single_accuracy", "plaintext_float_accuracy"):
        assert 0.0 < res[key] <= 1.0
    assert len(res["party_accuracy"]) == 3
    assert set(res["mean_round_seconds"]) >= {"training", "encrypt+prove", "shares+prove"}
    # one party's share of the decryption work is the t shares' time divided by t
    mean, party = res["mean_round_seconds"], res["party_round_seconds"]
    assert party["shares+prove"] == pytest.approx(mean["shares+prove"] / 2)
    summary = out.splitlines()[-1]
    assert summary.startswith("SUMMARY training N=3 t=2 512-bit tiny")
    assert f"encrypted {res['encrypted_accuracy']:.4f}" in summary


def test_a_server_optimizer_run_equals_its_twin_and_is_re_derived_from_the_aggregates(
    tmp_path,
) -> None:
    """Encrypted FedAdam + FedProx on skewed data: the same bits as the plaintext fixed-point
    twin, and every round's model follows from W_0 and the decrypted aggregates alone."""
    out = tmp_path / "training.json"
    capture = pytest.MonkeyPatch()
    capture.setattr("builtins.print", lambda *a, **_k: None)
    try:
        code = training.main(
            ["--quick", "--model", "tiny", "--parties", "3", "--key-bits", "512",
             "--rounds", "2", "--partition", "dirichlet", "--alpha", "0.5",
             "--strategy", "fedadam:server_lr=0.01,beta1=0.5,tau=0.01,mu=0.1",
             "--json", str(out)]
        )  # fmt: skip
    finally:
        capture.undo()
    res = json.loads(out.read_text())
    assert code == 0
    assert res["strategy"]["name"] == "fedadam"
    assert res["twin_model_equal"] and res["models_rederived"]
    assert res["encrypted_accuracy"] == res["plaintext_twin_accuracy"]


def test_an_invalid_strategy_is_refused_before_any_work() -> None:
    with pytest.raises(SystemExit):
        training.main(["--strategy", "fedadam:tau=0"])
