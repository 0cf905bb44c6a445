"""The parent side: which child processes to start, starting them, and collecting their results.

Every framework runs in its own process per workload (Keras picks its backend at import, and each
process's peak RSS then describes one workload); W1 and W4 share one, because W4 predicts with
W1's trained model. axonal runs under this interpreter, peers under ``--peer-python``.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench import workloads as wl

RUN_PY = Path(__file__).resolve().parents[1] / "run.py"


def machine_info() -> dict:
    """CPU model, core counts, load and thread settings of this machine (printed at the top)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "available_cores": len(os.sched_getaffinity(0)),
            "load_average_1min": os.getloadavg()[0], "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "python": sys.version.split()[0], "platform": platform.platform()}


def plan(frameworks: list[str], wanted: list[str]) -> list[dict]:
    """The jobs, workload by workload: ``{"framework", "workloads", "train_w1"}``.

    W4 joins W1's job; asked for alone, its job first trains W1's model without reporting it.
    """
    jobs = []
    for name in wanted:
        if name == "W4" and "W1" in wanted:
            continue
        group = ["W1", "W4"] if name == "W1" and "W4" in wanted else [name]
        for framework in frameworks:
            covered = [w for w in group if framework in wl.frameworks_for(w)]
            if covered:
                jobs.append({"framework": framework, "workloads": covered,
                             "train_w1": ["W1"] if covered == ["W4"] else []})
    return jobs


def child_environment(framework: str, data: str | None) -> dict:
    env = dict(os.environ)
    if framework.startswith("keras-"):
        env["KERAS_BACKEND"] = framework.split("-", 1)[1]   # read when keras is first imported
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")            # keeps TensorFlow's banner out of the error line
    if data:
        env["AXONAL_DATA"] = data
    return env


def train_rows(args) -> dict:
    """Training rows per workload (None: all): ``--cnn-limit`` for W5, the quick subset everywhere."""
    rows = {name: None for name in wl.WORKLOADS}
    rows["W5"] = args.cnn_limit
    if args.quick:
        rows = {name: min(r or wl.QUICK_TRAIN_ROWS, wl.QUICK_TRAIN_ROWS) for name, r in rows.items()}
    return rows


def run_job(job: dict, args, tmp: Path, churn_npz: str | None, task: str | None = None,
            latency_npz: str | None = None) -> list[dict]:
    """Start one child, wait for it, and return its results (one per workload, errors included)."""
    framework = job["framework"]
    python = sys.executable if framework in wl.THIS_INTERPRETER or task else (args.peer_python or sys.executable)
    stem = tmp / f"{framework}-{'-'.join(job['workloads']) or task}"
    spec = {"framework": framework, "workloads": job["workloads"], "train_w1": job.get("train_w1", []),
            "quick": args.quick, "epochs": args.epochs, "seed": args.seed, "train_rows": train_rows(args),
            "test_rows": wl.QUICK_TEST_ROWS if args.quick else wl.FASHION_TEST_ROWS, "churn_npz": churn_npz,
            "latency_npz": latency_npz,
            "task": task, "seconds": args.peak_seconds, "device": getattr(args, "device", "cpu")}
    spec_path, result_path, stderr_path = (Path(f"{stem}.{ext}") for ext in ("spec.json", "result.json", "stderr"))
    spec_path.write_text(json.dumps(spec))
    failed = lambda status: [{"framework": framework, "workload": w, "status": status}  # noqa: E731
                             for w in job["workloads"] or [task]]
    if not Path(python).exists():
        return failed(f"not installed (no interpreter {python})")
    timed_out = ""
    with open(stderr_path, "w") as stderr:
        try:
            done = subprocess.run([python, str(RUN_PY), "--worker", str(spec_path), str(result_path)],
                                  env=child_environment(framework, args.data), cwd=RUN_PY.parents[1],
                                  stdout=subprocess.DEVNULL, stderr=stderr, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            timed_out = f"timed out after {args.timeout} s"
    results = json.loads(result_path.read_text()) if result_path.exists() else []
    lines = [line.strip() for line in stderr_path.read_text(errors="replace").splitlines() if line.strip()]
    last = timed_out or (lines[-1] if lines else f"exit status {done.returncode}")
    reported = {r.get("workload") for r in results}
    return results + [r for r in failed(f"error: {last}") if r["workload"] not in reported]


def measure_peak(args, tmp: Path) -> dict:
    """The machine's fp32 FMA peak, measured in a child so that no OpenMP pool of this process spins
    next to the benchmarks later."""
    result = run_job({"framework": "axonal", "workloads": []}, args, tmp, None, task="peak")[0]
    if result.get("status") != "ok":
        result["status"] = "not measured"
    return result


def run_all(jobs: list[dict], args, tmp: Path, churn_npz: str | None, latency_npz: str | None = None) -> list[dict]:
    """Run the jobs one after another (never two at once: they would share the cores), with progress."""
    results = []
    for number, job in enumerate(jobs, 1):
        start = time.perf_counter()
        print(f"  [{number}/{len(jobs)}] {job['framework']:<17} {'+'.join(job['workloads']):<6}", end=" ", flush=True)
        batch = run_job(job, args, tmp, churn_npz, latency_npz=latency_npz)
        statuses = sorted({r["status"] for r in batch})
        print(f"{time.perf_counter() - start:6.1f} s  {'; '.join(statuses)}", flush=True)
        results += batch
    return results
