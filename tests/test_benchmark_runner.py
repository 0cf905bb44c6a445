"""benchmarks/run.py, the benchmark runner, in its --quick smoke mode (a few seconds), so it cannot rot.

The full runs (minutes, all peers) are done by hand on a quiet machine; here only axonal runs, on
tiny subsets, and the test checks the JSON the runner writes, not the speed. W1 and W4 need
Fashion-MNIST under AXONAL_DATA (skipped without it); W2's synthetic table needs no data.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from bench import launcher, workloads  # noqa: E402

FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz")


def fashion_missing() -> str:
    """Why the real Fashion-MNIST cannot be used here, or '' when it can."""
    data = os.environ.get("AXONAL_DATA")
    if not data:
        return "AXONAL_DATA is not set (point it at the shared data folder): no Fashion-MNIST"
    missing = [name for name in FASHION_FILES if not (Path(data) / "fashion-mnist" / name).is_file()]
    return f"{data}/fashion-mnist lacks {', '.join(missing)}" if missing else ""


def run_quick(tmp_path, names: str) -> dict:
    """Run the runner in quick mode for axonal alone and return its JSON."""
    out = tmp_path / "bench.json"
    env = dict(os.environ, AXONAL_OFFLINE="1")  # a missing file must fail, never start a download
    done = subprocess.run([sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--frameworks", "axonal",
                           "--workloads", names, "--json", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "not benchmarks" in done.stdout      # quick numbers say what they are
    return json.loads(out.read_text())


def check_results(report: dict, names: list[str]) -> None:
    assert report["quick"] is True
    by_workload = {r["workload"]: r for r in report["results"] if r["framework"] == "axonal"}
    assert sorted(by_workload) == sorted(names)
    for name, result in by_workload.items():
        assert result["status"] == "ok", (name, result)
        assert result["seconds"] and all(math.isfinite(s) and s > 0 for s in result["seconds"]), result
        assert math.isfinite(result["median"]) and result["median"] > 0
        assert result["peak_rss_mb"] > 0 and result["threads"] >= 1
        assert 0.0 <= result["test_accuracy"] <= 1.0


def test_quick_run_times_w2_without_any_data(tmp_path):
    report = run_quick(tmp_path, "W2")
    check_results(report, ["W2"])
    w2 = report["results"][0]
    assert w2["steps_per_epoch"] == workloads.QUICK_TRAIN_ROWS // 10 and w2["us_per_step"] > 0


@pytest.mark.skipif(bool(fashion_missing()), reason=fashion_missing() or "unused")
def test_quick_run_times_w1_w2_w4(tmp_path):
    report = run_quick(tmp_path, "W1,W2,W4")
    check_results(report, ["W1", "W2", "W4"])
    assert set(report["summaries"]) == {"W1", "W2", "W4"}


def test_w1_flops_per_epoch_match_the_issue():
    """60000 x (forward + weight gradients + input gradients but the first) of 784-512-512-10: ~1.93e11."""
    assert workloads.training_flops(workloads.SEED_MLP, 60000) == 60000 * (4 * 668672 + 2 * (512 * 512 + 512 * 10))
    assert round(workloads.training_flops(workloads.SEED_MLP, 60000) / 1e11, 2) == 1.93


def test_sweep_measures_the_shared_configuration_once():
    configs = workloads.sweep_configs(quick=False)
    assert len(configs) == len(workloads.SWEEP_BATCHES) + len(workloads.SWEEP_WIDTHS) - 1
    assert len({(c["batch"], c["width"]) for c in configs}) == len(configs)


def test_plan_runs_w4_in_w1s_process_and_skips_uncovered_frameworks():
    jobs = launcher.plan(["axonal", "jax-scan", "axonal-numpy"], ["W1", "W3", "W4"])
    assert {"framework": "axonal", "workloads": ["W1", "W4"], "train_w1": []} in jobs
    assert {"framework": "jax-scan", "workloads": ["W1"], "train_w1": []} in jobs   # jax-scan: W1, W2 only
    assert not any(j["framework"] != "axonal" and "W3" in j["workloads"] for j in jobs)
    alone = launcher.plan(["axonal"], ["W4"])
    assert alone == [{"framework": "axonal", "workloads": ["W4"], "train_w1": ["W1"]}]


def test_churn_table_is_deterministic_and_learnable(tmp_path):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    workloads.make_churn(first)
    workloads.make_churn(second)
    x_train, y_train, x_test, y_test = workloads.load_data("churn", None, 2000, str(first))
    again = workloads.load_data("churn", None, 2000, str(second))
    assert all((a == b).all() for a, b in zip((x_train, y_train, x_test, y_test), again))
    assert x_train.shape == (8000, 11) and x_test.shape == (2000, 11) and y_train.shape == (8000, 1)
    assert 0.3 < y_train.mean() < 0.6   # near balance: "always 0" cannot pass the 0.70 band
