"""tools/gpu_session.sh and its summary (issue 22, point 6): the script parses, its stage budgets
end within the 9 minutes a GPU loan leaves, and the summary reads the stages' results right.
(The whole script was rehearsed on the host emulation with --rehearse; that takes minutes, so the
suite does not run it.)"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_session.sh"


def test_the_script_parses_and_its_gpu_budgets_fit_nine_minutes():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    gpu_part = text.split("\nelse\n", 1)[1]  # the GPU branch and the stages after it
    budgets = {name: int(seconds) for name, seconds in re.findall(r"^\s*stage (\w+) (\d+)$", gpu_part, re.M)}
    assert set(budgets) == {"build", "tests", "bench", "gemm"}
    assert sum(budgets.values()) + 10 * len(budgets) <= 9 * 60  # each stage's kill grace included


def summarise(tmp_path, results, gemm_share):
    (tmp_path / "stages.tsv").write_text("build\tok\t120\t\ntests\tok\t80\t1546 passed\nbench\tFAILED\t90\texit 1\n")
    (tmp_path / "bench.json").write_text(json.dumps({"results": results}))
    (tmp_path / "gemm.json").write_text(json.dumps({
        "size": 8192, "device": "NVIDIA H100", "axonal_tflops": 40.0 * gemm_share, "cublas_tflops": 40.0,
        "axonal_share_of_cublas": gemm_share, "max_relative_difference": 1e-7}))
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_summary.py"), str(tmp_path)],
                          capture_output=True, text=True, check=True)
    assert done.stdout == (tmp_path / "summary.txt").read_text()
    return done.stdout


def test_the_summary_judges_each_goal(tmp_path):
    results = [{"framework": "axonal", "workload": "W1", "status": "ok", "median": 0.2, "unit": "s/epoch"},
               {"framework": "torch", "workload": "W1", "status": "ok", "median": 1.2, "unit": "s/epoch"},
               {"framework": "axonal", "workload": "W2", "status": "ok", "median": 0.5, "unit": "s/epoch"},
               {"framework": "torch", "workload": "W2", "status": "ok", "median": 5.0, "unit": "s/epoch"},
               {"framework": "axonal", "workload": "W4", "status": "FAILED band (accuracy 0.1 < 0.8)"},
               {"framework": "torch", "workload": "W4", "status": "ok", "median": 0.01}]
    text = summarise(tmp_path, results, 0.85)
    assert "  bench    FAILED         90 s  exit 1" in text and "tests    ok" in text
    assert "W1: axonal 0.2 s/epoch, PyTorch 1.2: 6.00x (goal >= 5x: met)" in text
    assert "W2: axonal 0.5 s/epoch, PyTorch 5: 10.00x (goal >= 20x: NOT met)" in text
    assert "W4: axonal FAILED band" in text
    assert "85% (goal >= 80%: met)" in text and "REHEARSAL" not in text


def test_a_rehearsal_says_so(tmp_path):
    (tmp_path / "REHEARSAL").touch()
    text = summarise(tmp_path, [], 0.5)
    assert "REHEARSAL on the host emulation: timings mean nothing" in text and "50% (goal >= 80%: NOT met)" in text
