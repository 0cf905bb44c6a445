"""The last lines of a GPU session (tools/gpu_session.sh): each stage's outcome and time, and the
figures against the GPU goals (W1 >= 5x and W2 >= 20x PyTorch CUDA eager, >= 80% of cuBLAS on the
8192^3 fp32 GEMM), read from the stage table and the JSON files the stages wrote.

Usage: python tools/gpu_summary.py OUT_DIR   (prints, and writes OUT_DIR/summary.txt)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

GOALS = {"W1": 5.0, "W2": 20.0}  # axonal's speed-up over PyTorch CUDA eager
GEMM_GOAL = 0.80  # share of cuBLAS' rate


def stage_lines(out: Path) -> list[str]:
    lines = []
    table = out / "stages.tsv"
    for row in table.read_text().splitlines() if table.exists() else []:
        name, status, seconds, note = (row.split("\t") + ["", "", "", ""])[:4]
        lines.append(f"  {name:<8} {status:<10} {float(seconds):6.0f} s  {note}")
    return lines or ["  (no stage ran)"]


def benchmark_lines(out: Path) -> list[str]:
    path = out / "bench.json"
    if not path.exists():
        return ["  benchmark: no result file"]
    results = json.loads(path.read_text())["results"]
    by_key = {(r["framework"], r["workload"]): r for r in results}
    lines = []
    for workload in sorted({r["workload"] for r in results}):
        ours, torch = by_key.get(("axonal", workload)), by_key.get(("torch", workload))
        if ours is None or ours.get("status") != "ok":
            lines.append(f"  {workload}: axonal {ours.get('status') if ours else 'did not run'}")
            continue
        text = f"  {workload}: axonal {ours['median']:.4g} {ours.get('unit', '')}"
        if torch is not None and torch.get("status") == "ok":
            ratio = torch["median"] / ours["median"]
            goal = GOALS.get(workload)
            verdict = "" if goal is None else f" (goal >= {goal:g}x: {'met' if ratio >= goal else 'NOT met'})"
            text += f", PyTorch {torch['median']:.4g}: {ratio:.2f}x{verdict}"
        else:
            text += f", PyTorch {torch.get('status') if torch else 'did not run'}"
        lines.append(text)
    return lines


def gemm_lines(out: Path) -> list[str]:
    path = out / "gemm.json"
    if not path.exists():
        return ["  GEMM: no result file"]
    figures = json.loads(path.read_text())
    share = figures["axonal_share_of_cublas"]
    return [f"  GEMM {figures['size']}^3 on {figures['device']}: axonal {figures['axonal_tflops']:.1f} TFLOP/s, "
            f"cuBLAS {figures['cublas_tflops']:.1f}: {100 * share:.0f}% "
            f"(goal >= {100 * GEMM_GOAL:.0f}%: {'met' if share >= GEMM_GOAL else 'NOT met'})"]


def main(out_dir: str) -> int:
    out = Path(out_dir)
    rehearsal = (out / "REHEARSAL").exists()
    lines = ["== GPU session summary" + (" (REHEARSAL on the host emulation: timings mean nothing)" if rehearsal else ""),
             "stages:", *stage_lines(out), "figures:", *benchmark_lines(out), *gemm_lines(out)]
    text = "\n".join(lines) + "\n"
    (out / "summary.txt").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
