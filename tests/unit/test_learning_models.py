"""Models, flat parameter vectors, local training, FedAvg and a short federated run."""

from __future__ import annotations

import numpy as np
import pytest

from deepchain.learning.baselines import (
    fixed_point_round_trip,
    local_seed,
    run_centralized,
    run_federated,
    run_single,
)
from deepchain.learning.data import Dataset, load_dataset, train_test_split
from deepchain.learning.local import batch_indices, evaluate, fedavg_step, train_local
from deepchain.learning.models import (
    PAPER_PRESET,
    PRESETS,
    build_model,
    get_flat_params,
    initial_params,
    param_count,
    set_flat_params,
)


@pytest.fixture(scope="module")
def digits() -> tuple[Dataset, Dataset]:
    """The sklearn digits (always available), split 80/20: fast and deterministic."""
    return train_test_split(load_dataset("/nonexistent-mnist-dir"), 0.2, seed=0)


def test_paper_cnn_has_the_prototype_architecture():
    model = build_model("paper_cnn")
    # conv 1->10 3x3 (90+10), FC 1960x128 (+128), FC 128x10 (+10)
    assert param_count(model) == 100 + 1960 * 128 + 128 + 1280 + 10
    import torch

    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name", ["paper_cnn", "mlp", "tiny"])
def test_flat_params_round_trip_exactly(name):
    a, b = build_model(name, seed=1), build_model(name, seed=2)
    wa = get_flat_params(a)
    assert wa.dtype == np.float32 and wa.shape == (param_count(a),)
    assert not np.array_equal(wa, get_flat_params(b))
    set_flat_params(b, wa)
    np.testing.assert_array_equal(get_flat_params(b), wa)


def test_set_flat_params_rejects_a_wrong_length():
    with pytest.raises(ValueError, match="parameters"):
        set_flat_params(build_model("tiny"), np.zeros(3, dtype=np.float32))


def test_build_model_rejects_unknown_names_and_is_seeded():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")
    np.testing.assert_array_equal(initial_params("mlp", 7), initial_params("mlp", 7))


def test_paper_preset_keeps_1500_iterations_and_batch_64():
    assert PAPER_PRESET.total_iterations == 1500 and PAPER_PRESET.batch_size == 64
    assert PRESETS["paper"] is PAPER_PRESET and {"quick", "test"} <= set(PRESETS)


def test_batch_indices_cover_an_epoch_before_repeating():
    batches = batch_indices(10, 5, 4, seed=0)
    assert [len(b) for b in batches] == [4] * 5
    first_epoch = np.concatenate(batches[:2])
    assert len(set(first_epoch.tolist())) == 8


def test_train_local_reduces_loss_on_a_small_subset_and_is_deterministic(digits):
    train, _ = digits
    small = train.subset(np.arange(200))
    w0 = initial_params("mlp", 0)
    _, loss0 = evaluate("mlp", w0, small)
    dw = train_local("mlp", w0, small, iterations=60, lr=0.1, batch_size=32, seed=3)
    assert dw.dtype == np.float32 and dw.shape == w0.shape
    acc1, loss1 = evaluate("mlp", w0 + dw, small)
    assert loss1 < 0.5 * loss0 and acc1 > 0.8
    again = train_local("mlp", w0, small, iterations=60, lr=0.1, batch_size=32, seed=3)
    np.testing.assert_array_equal(dw, again)
    other = train_local("mlp", w0, small, iterations=60, lr=0.1, batch_size=32, seed=4)
    assert not np.array_equal(dw, other)


def test_train_local_clips_each_update_coordinate(digits):
    train, _ = digits
    w0 = initial_params("tiny", 0)
    dw = train_local("tiny", w0, train, 30, lr=0.5, batch_size=32, seed=0, update_clip=1e-3)
    assert np.abs(dw).max() <= 1e-3 + 1e-9
    assert np.mean(np.abs(dw) == np.float32(1e-3)) > 0.5


def test_train_local_reports_divergence_instead_of_returning_nan(digits):
    train, _ = digits
    with pytest.raises(FloatingPointError):
        train_local("tiny", initial_params("tiny", 0), train, 5, lr=1e38, batch_size=32, seed=0)


def test_fedavg_step_adds_the_mean_update_exactly():
    w = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    ups = [np.array([0.5, 1.0, -1.0], np.float32), np.array([1.5, -3.0, 0.0], np.float32)]
    np.testing.assert_array_equal(fedavg_step(w, ups), np.array([2.0, -3.0, 0.0], np.float32))
    np.testing.assert_array_equal(fedavg_step(w, [ups[0]]), w + ups[0])
    with pytest.raises(ValueError):
        fedavg_step(w, [])
    with pytest.raises(ValueError):
        fedavg_step(w, [np.zeros(2, np.float32)])


def test_local_seed_differs_per_party_and_round_but_is_stable():
    seeds = {local_seed(0, r, j) for r in range(1, 4) for j in range(5)}
    assert len(seeds) == 15 and local_seed(0, 1, 2) == local_seed(0, 1, 2)


def test_short_federated_run_rises_well_above_chance_and_beats_its_start(digits):
    train, test = digits
    cfg = PRESETS["test"].with_(model="mlp", rounds=3, local_iterations=25, lr=0.1)
    res = run_federated(train, test, cfg, n_parties=3, seed=0)
    assert len(res.rounds) == 3 and res.rounds[-1].iteration == 75
    assert res.initial_accuracy < 0.3
    assert res.final_accuracy > 0.8
    assert all(len(r.party_accuracy) == 3 for r in res.rounds)
    assert res.rounds[-1].accuracy >= res.rounds[0].accuracy - 0.02
    d = res.to_dict()
    assert d["final_accuracy"] == res.final_accuracy and "final_params" not in d


def test_federated_run_applies_the_quantize_hook_and_is_reproducible(digits):
    train, test = digits
    cfg = PRESETS["test"]
    seen: list[np.ndarray] = []

    round_trip = fixed_point_round_trip(12, 16)

    def quantize(dw: np.ndarray) -> np.ndarray:
        seen.append(dw)
        return round_trip(dw)

    plain = run_federated(train, test, cfg, n_parties=2, seed=1)
    quant = run_federated(train, test, cfg, n_parties=2, seed=1, quantize=quantize)
    again = run_federated(train, test, cfg, n_parties=2, seed=1)
    assert len(seen) == 2 * cfg.rounds
    np.testing.assert_array_equal(plain.final_params, again.final_params)
    diff = np.abs(plain.final_params - quant.final_params).max()
    assert 0 < diff < 0.01


def test_dirichlet_federated_run_and_baselines_share_the_iteration_axis(digits):
    train, test = digits
    cfg = PRESETS["test"]
    fed = run_federated(train, test, cfg, n_parties=4, partition="dirichlet", alpha=0.2, seed=0)
    cen = run_centralized(train, test, cfg, seed=0)
    one = run_single(train.subset(np.arange(50)), test, cfg, seed=0)
    axes = [[r.iteration for r in x.rounds] for x in (fed, cen, one)]
    assert axes[0] == axes[1] == axes[2] == [20, 40, 60]
    assert cen.final_accuracy > 0.5


def test_centralized_group_budget_runs_n_times_the_steps(digits):
    train, test = digits
    cfg = PRESETS["test"]
    res = run_centralized(train, test, cfg, seed=0, budget_parties=3)
    assert res.name == "centralized-x3"
    assert [r.iteration for r in res.rounds][-1] == 3 * cfg.total_iterations


def test_experiment_cli_prints_the_three_accuracies(tmp_path, capsys):
    from deepchain.learning.experiment import main

    out_json = tmp_path / "r.json"
    argv = ["--parties", "2", "--preset", "test", "--data-dir", str(tmp_path / "none")]
    assert main([*argv, "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "sklearn-digits" in text and "federated" in text and "single alone" in text
    import json

    data = json.loads(out_json.read_text())
    assert data["n_parties"] == 2 and 0.0 <= data["federated"]["final_accuracy"] <= 1.0


def test_fixed_point_round_trip_rounds_to_the_grid_and_clips_to_q_bits():
    q = fixed_point_round_trip(scale_bits=2, q_bits=4)  # grid 0.25, |q| <= 15 -> |x| <= 3.75
    x = np.array([0.1, 0.13, -0.38, 100.0, -100.0], dtype=np.float32)
    np.testing.assert_array_equal(q(x), np.array([0.0, 0.25, -0.5, 3.75, -3.75], np.float32))


def test_lr_decays_geometrically_per_round_and_defaults_to_constant():
    assert PAPER_PRESET.lr_at(1) == PAPER_PRESET.lr_at(10) == PAPER_PRESET.lr
    cfg = PAPER_PRESET.with_(lr=0.2, lr_decay=0.5)
    assert [cfg.lr_at(r) for r in (1, 2, 3)] == [0.2, 0.1, 0.05]


def test_experiment_cli_summarises_several_seeds_with_the_protocols_arithmetic(tmp_path, capsys):
    from deepchain.learning.experiment import main

    out_json = tmp_path / "seeds.json"
    argv = ["--parties", "2", "--preset", "test", "--data-dir", str(tmp_path / "none")]
    assert main([*argv, "--seeds", "0,1", "--exact-twin", "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "== seed 0" in text and "== seed 1" in text and "over 2 seeds" in text
    import json

    data = json.loads(out_json.read_text())
    assert data["seeds"] == [0, 1] and len(data["runs"]) == 2
    gaps = [r["gap_to_centralized"] for r in data["runs"]]
    assert data["summary"]["gap_mean"] == pytest.approx(np.mean(gaps))
    assert data["summary"]["gap_max"] == pytest.approx(max(gaps))
    # different seeds give different splits, so different runs
    assert data["runs"][0]["federated"]["rounds"] != data["runs"][1]["federated"]["rounds"]


@pytest.mark.parametrize("seeds", ["", "0,0", "a,1"])
def test_experiment_cli_refuses_bad_seed_lists(seeds, capsys):
    from deepchain.learning.experiment import main

    with pytest.raises(SystemExit) as exc:
        main(["--seeds", seeds])
    assert exc.value.code == 2
    assert "seeds" in capsys.readouterr().err
