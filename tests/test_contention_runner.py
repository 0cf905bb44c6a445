"""``benchmarks/run.py --contention`` (W1 quiet, beside a busy neighbour, two copies together) and the
runner's per-ISA peak: the table's arithmetic and goals on made-up entries, a quick smoke run, and
the FMA peak measured for a chosen instruction set."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from bench import contention  # noqa: E402


def entry(framework, quiet, busy, together):
    e = {"framework": framework, "quiet": quiet, "busy": busy, "together": together,
         "status": {"quiet": "ok", "busy": "ok", "together": ["ok", "ok"]}}
    e["busy_slowdown"] = busy / quiet
    e["together_slowdown"] = [t / quiet for t in together]
    e["together_vs_sequential"] = max(together) / (2 * quiet)
    return e


def test_goals_compare_against_quiet_and_against_pytorch(capsys):
    goals = contention.print_table([entry("axonal", 1.0, 1.7, [1.7, 1.8]), entry("torch", 3.4, 10.1, [7.0, 7.2])])
    assert goals == {"busy <= 2x quiet": True, "two together <= one after the other": True,
                     "busy slowdown < PyTorch's": True, "together slowdown < PyTorch's": True}
    out = capsys.readouterr().out
    assert "together/sequential 0.90" in out and "axonal 1.70 vs PyTorch 2.97" in out


def test_goals_not_met_are_said_so(capsys):
    goals = contention.print_table([entry("axonal", 1.0, 7.3, [6.3, 6.4]), entry("torch", 3.4, 10.1, [7.0, 7.2])])
    assert goals["busy <= 2x quiet"] is False and goals["two together <= one after the other"] is False
    assert goals["busy slowdown < PyTorch's"] is False          # 7.3 against 2.97
    assert "NOT met" in capsys.readouterr().out


def test_missing_measurements_meet_no_goal(capsys):
    broken = dict(entry("axonal", 1.0, 1.5, [1.5, 1.5]), busy=None, busy_slowdown=None)
    goals = contention.print_table([broken])
    assert goals["busy <= 2x quiet"] is False
    assert "not measured" in capsys.readouterr().out


def test_quick_contention_run_writes_every_setting(tmp_path):
    data = os.environ.get("AXONAL_DATA")
    if not data or not (Path(data) / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("W1 needs Fashion-MNIST under AXONAL_DATA")
    out = tmp_path / "contention.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "run.py"), "--contention", "--quick", "--frameworks",
                           "axonal", "--json", str(out)], env=dict(os.environ, AXONAL_OFFLINE="1"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "ISA: axonal's kernels use" in done.stdout and "goal: busy <= 2x quiet" in done.stdout
    report = json.loads(out.read_text())
    assert report["contention"] is True and report["peak"]["isa"] in ("portable", "avx2", "avx512")
    (axonal,) = report["entries"]
    assert axonal["status"] == {"quiet": "ok", "busy": "ok", "together": ["ok", "ok"]}
    assert axonal["quiet"] > 0 and axonal["busy"] > 0 and all(t > 0 for t in axonal["together"])
    assert set(report["goals"]) == {"busy <= 2x quiet", "two together <= one after the other"}


native = pytest.importorskip("axonal._native", reason="the native extension is not built")


def test_fma_peak_is_measured_for_the_isa_asked_for():
    best = native.best_isa()
    widths = {"portable": 1, "avx2": 8, "avx512": 16}
    assert native.fma_peak_gflops(1, 0.05, "portable") > 0
    if widths[best] >= 8:
        narrow, wide = native.fma_peak_gflops(1, 0.2, "portable"), native.fma_peak_gflops(1, 0.2, "avx2")
        assert wide > 2 * narrow      # 8 lanes against one: far more than noise
    with pytest.raises(ValueError, match="unknown instruction set 'sse9'"):
        native.fma_peak_gflops(1, 0.05, "sse9")
    if best != "avx512":
        with pytest.raises(ValueError, match="does not run avx512"):
            native.fma_peak_gflops(1, 0.05, "avx512")


def test_mkl_runs_in_strict_cnr_mode():
    version = native.blas_version()
    if not version.startswith("Intel MKL"):
        pytest.skip(f"not MKL: {version}")
    assert ", strict" in version, version   # bits independent of the thread count (test_thread_governor.py)


def test_axonal_isa_avx2_runs_mkls_avx2_code():
    # An AVX2-only CPU gets MKL's AVX2 kernels: AXONAL_ISA=avx2 must measure the same path here.
    if not native.blas_version().startswith("Intel MKL") or native.best_isa() == "portable":
        pytest.skip("needs MKL on an AVX2 or AVX-512 CPU")
    done = subprocess.run([sys.executable, "-c", "from axonal import _native; print(_native.blas_version())"],
                          env=dict(os.environ, AXONAL_ISA="avx2"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "CNR AVX2, strict" in done.stdout, done.stdout
