"""The results report command writes every plot and a README whose numbers come from the run."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from deepchain.bench import report, training
from deepchain.bench.report_plots import PHASES
from deepchain.bench.report_render import readme
from deepchain.learning import experiment


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("results")
    results = report.run_report(out, report.config_for("tiny"), quiet=True)
    return out, results


def test_it_writes_every_plot_the_readme_and_the_json(tiny_run: tuple[Path, dict]) -> None:
    out, results = tiny_run
    plots = results["plots"]
    expected = {
        "fig4_cipher_size.png",
        "fig5_throughput.png",
        "fig9_round_time.png",
        "consensus_latency.png",
    } | {f"fig6_7_accuracy_{n}_parties.png" for n in report.config_for("tiny").accuracy_parties}
    assert set(plots) == expected
    for p in plots:
        data = (out / p).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    text = (out / "README.md").read_text()
    for p in plots:
        assert f"]({p})" in text, f"README does not show {p}"
    assert json.loads((out / "results.json").read_text())["mode"] == "tiny"


def test_readme_quotes_the_runs_own_numbers(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    res = json.loads((out / "results.json").read_text())
    text = (out / "README.md").read_text()
    assert "Mode: tiny" in text
    assert f"**{res['crypto']['encrypt_ratio']:.0f}x**" in text
    assert f"{res['machine']['cores']} cores" in text
    assert res["machine"]["cpu_model"] in text
    for g in res["accuracy"]["groups"].values():
        assert f"**{g['final_federated']:.4f}**" in text
    assert f"{res['round']['rows'][-1]['total_s']:.2f} |" in text
    # the paper's reported figures are quoted for comparison
    assert "0.967-0.973" in text and "0.984" in text


def test_readme_changes_when_the_measurements_change(tiny_run: tuple[Path, dict]) -> None:
    _, results = tiny_run
    altered = copy.deepcopy(results)
    altered["crypto"]["encrypt_ratio"] = 123456.0
    grp = next(iter(altered["accuracy"]["groups"].values()))
    grp["final_federated"] = 0.1234
    text = readme(altered, results["plots"])
    assert "**123456x**" in text and "**0.1234**" in text
    assert "**123456x**" not in readme(results, results["plots"])


def test_round_composition_sums_phases_and_grows_with_parties(tiny_run: tuple[Path, dict]) -> None:
    _, results = tiny_run
    rows = results["round"]["rows"]
    for r in rows:
        assert r["total_s"] == pytest.approx(sum(r["phases"].values()))
        assert set(r["phases"]) == set(PHASES)
    # verification is sequential over the N updates: it scales with N exactly
    per = results["round"]["per_party"]["verify_update_s"]
    assert [r["phases"]["verification (Proof_PK)"] for r in rows] == pytest.approx(
        [r["parties"] * per for r in rows]
    )


def test_packed_sizes_follow_the_packing_scheme(tiny_run: tuple[Path, dict]) -> None:
    _, results = tiny_run
    c = results["crypto"]
    slots = results["key"]["slots_per_ciphertext"]
    for row in c["sizes"]:
        g = row["gradients"]
        assert row["packed_ciphertexts"] == -(-g // slots)
        assert row["one_per_ct_bytes"] == g * c["ciphertext_bytes"]
    for row in c["serialized"]:  # real bytes: ciphertexts plus a small header
        exact = -(-row["gradients"] // slots) * c["ciphertext_bytes"]
        assert exact <= row["packed_bytes"] <= exact + 64
        assert row["packed_with_proofs_bytes"] > row["packed_bytes"]


def test_consensus_with_a_faulty_leader_needs_another_round(tiny_run: tuple[Path, dict]) -> None:
    _, results = tiny_run
    for row in results["consensus"]["rows"]:
        assert row["honest"]["k"] == 0
        assert row["silent"]["k"] >= 1 and row["forge_signature"]["k"] >= 1
        assert row["silent"]["latency_s"] >= results["consensus"]["timeout_ms"] / 1000


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        report.config_for("huge")


def test_render_only_adds_the_encrypted_runs_saved_beside_the_report(
    tiny_run: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = tiny_run
    for f in out.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    assert "No encrypted run recorded" in (tmp_path / "README.md").read_text()
    run_json = tmp_path / "training_2_parties.json"
    assert training.main(
        ["--quick", "--model", "tiny", "--parties", "2", "--key-bits", "512", "--rounds", "2",
         "--json", str(run_json)]
    ) == 0  # fmt: skip
    run = json.loads(run_json.read_text())
    skewed_json = tmp_path / "training_2_parties_dirichlet.json"
    assert training.main(
        ["--quick", "--model", "tiny", "--parties", "2", "--key-bits", "512", "--rounds", "2",
         "--partition", "dirichlet", "--alpha", "0.5", "--strategy", "fedavgm:beta1=0.5",
         "--json", str(skewed_json)]
    ) == 0  # fmt: skip
    skewed = json.loads(skewed_json.read_text())
    seeds_json = tmp_path / "seeds_2_parties.json"
    assert experiment.main(
        ["--parties", "2", "--preset", "test", "--seeds", "0,1", "--exact-twin",
         "--data-dir", str(tmp_path / "none"), "--json", str(seeds_json)]
    ) == 0  # fmt: skip
    study = json.loads(seeds_json.read_text())["summary"]
    assert report.main(["--render-only", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "### 3b. Encrypted training end to end" in text
    assert (
        f"| 2 | 2 | 512 | tiny | {run['Q']} | iid | `fedavg` | 2 "
        f"| **{run['encrypted_accuracy']:.4f}** | {run['plaintext_twin_accuracy']:.4f} "
        "| yes | yes |"
    ) in text
    assert (
        f"| 2 | 2 | 512 | tiny | {skewed['Q']} | Dirichlet alpha 0.5 "
        f"| `{skewed['strategy_label']}` | 2 | **{skewed['encrypted_accuracy']:.4f}** "
        f"| {skewed['plaintext_twin_accuracy']:.4f} | yes | yes |"
    ) in text
    assert skewed["strategy_label"].startswith("fedavgm")
    assert f"| {100 * study['gap_mean']:.2f} +- {100 * study['gap_std']:.2f} (" in text
    assert f"| {study['targets_met']}/2 seeds |" in text
    assert (tmp_path / "encrypted_training.png").read_bytes()[:4] == b"\x89PNG"


def test_render_only_needs_a_previous_report(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="results.json not found"):
        report.main(["--render-only", "--out", str(tmp_path)])
