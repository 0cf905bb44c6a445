"""``run.py --contention``: W1 when the machine is shared (issue 22, point 4).

Per framework (axonal, and PyTorch through ``--peer-python``), W1 trains three times:

* **quiet**: alone, as every other workload of the runner;
* **busy**: beside one busy single-threaded neighbour (``python -c "while True: pass"``, started
  before and stopped after the training);
* **two together**: two copies of the same training started at the same moment. Each copy's epoch
  time is reported, and the pair's cost against running them one after the other: the slower
  copy's epoch over twice the quiet epoch (1.0: sharing costs nothing in total).

Then the goals: busy <= 2x quiet; two together no slower in total than one after the other; and
axonal's two slowdowns smaller than PyTorch's.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import launcher

FRAMEWORKS = ("axonal", "torch")
BUSY_GOAL = 2.0       # busy epoch / quiet epoch
TOGETHER_GOAL = 1.0   # two together (slower copy's epoch) / (2 x quiet epoch)


def _median_epoch(results: list[dict]) -> float | None:
    w1 = next((r for r in results if r.get("workload") == "W1"), {})
    return w1.get("median") if w1.get("status") == "ok" else None


def _status(results: list[dict]) -> str:
    return next((r.get("status", "?") for r in results if r.get("workload") == "W1"), "no result")


def _job(framework: str) -> dict:
    return {"framework": framework, "workloads": ["W1"], "train_w1": []}


def run_quiet(framework: str, args, tmp: Path) -> list[dict]:
    return launcher.run_job(_job(framework), args, _fresh(tmp / "quiet"), None)


def run_busy(framework: str, args, tmp: Path) -> list[dict]:
    """W1 beside one busy single-threaded process, which is stopped afterwards whatever happens."""
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # the neighbour is running before the training starts
        return launcher.run_job(_job(framework), args, _fresh(tmp / "busy"), None)
    finally:
        neighbour.kill()
        neighbour.wait()


def run_together(framework: str, args, tmp: Path) -> list[list[dict]]:
    """Two copies of W1 started together (each in its own folder); both copies' results."""
    results: list[list[dict]] = [[], []]

    def copy(index: int) -> None:
        results[index] = launcher.run_job(_job(framework), args, _fresh(tmp / f"together-{index}"), None)

    workers = [threading.Thread(target=copy, args=(i,)) for i in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def measure(framework: str, args, tmp: Path) -> dict:
    """The three settings of one framework, with their epoch times and slowdowns."""
    quiet = run_quiet(framework, args, tmp / framework)
    busy = run_busy(framework, args, tmp / framework)
    together = run_together(framework, args, tmp / framework)
    entry = {"framework": framework, "quiet": _median_epoch(quiet), "busy": _median_epoch(busy),
             "together": [_median_epoch(r) for r in together],
             "status": {"quiet": _status(quiet), "busy": _status(busy),
                        "together": [_status(r) for r in together]},
             "results": {"quiet": quiet, "busy": busy, "together": together}}
    q = entry["quiet"]
    entry["busy_slowdown"] = entry["busy"] / q if q and entry["busy"] else None
    both = entry["together"]
    entry["together_slowdown"] = [t / q if q and t else None for t in both]
    entry["together_vs_sequential"] = max(both) / (2 * q) if q and all(both) else None
    return entry


def _fmt(value, spec: str = ".3f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def print_table(entries: list[dict]) -> dict:
    """The table of epoch times and slowdowns, then each goal met or not. Returns the goals."""
    print("\nW1 when the machine is shared (s/epoch, median of the timed epochs; slowdown = / quiet)")
    print(f"  {'framework':<10} {'quiet':>7} {'busy':>7} {'x':>6} {'copy 1':>7} {'copy 2':>7} {'x':>6} "
          f"{'together/sequential':>20}")
    for e in entries:
        together = e["together"]
        worst = max((s for s in e["together_slowdown"] if s), default=None)
        print(f"  {e['framework']:<10} {_fmt(e['quiet']):>7} {_fmt(e['busy']):>7} {_fmt(e['busy_slowdown'], '.2f'):>6} "
              f"{_fmt(together[0]):>7} {_fmt(together[1]):>7} {_fmt(worst, '.2f'):>6} "
              f"{_fmt(e['together_vs_sequential'], '.2f'):>20}")
        bad = {k: v for k, v in e["status"].items() if v != "ok" and v != ["ok", "ok"]}
        if bad:
            print(f"    {e['framework']} not ok: {bad}")
    goals = {}
    axonal = next((e for e in entries if e["framework"] == "axonal"), None)
    torch = next((e for e in entries if e["framework"] == "torch"), None)
    if axonal:
        goals["busy <= 2x quiet"] = _goal(axonal["busy_slowdown"], lambda v: v <= BUSY_GOAL, "busy/quiet")
        goals["two together <= one after the other"] = _goal(
            axonal["together_vs_sequential"], lambda v: v <= TOGETHER_GOAL, "together/sequential")
    if axonal and torch:
        goals["busy slowdown < PyTorch's"] = _goal_pair(axonal["busy_slowdown"], torch["busy_slowdown"])
        goals["together slowdown < PyTorch's"] = _goal_pair(axonal["together_vs_sequential"],
                                                            torch["together_vs_sequential"])
    for name, (met, text) in goals.items():
        print(f"  goal: {name}: {text}, {'met' if met else 'NOT met'}")
    return {name: met for name, (met, _) in goals.items()}


def _goal(value, test, label: str) -> tuple[bool, str]:
    if value is None:
        return False, f"{label} not measured"
    return bool(test(value)), f"{label} {value:.2f}"


def _goal_pair(ours, theirs) -> tuple[bool, str]:
    if ours is None or theirs is None:
        return False, "not measured for both"
    return ours < theirs, f"axonal {ours:.2f} vs PyTorch {theirs:.2f}"


def main(args, tmp: Path) -> dict:
    """Every framework asked for (of axonal and torch), setting by setting; the printed table."""
    frameworks = [f for f in args.frameworks if f in FRAMEWORKS] or list(FRAMEWORKS)
    entries = []
    for framework in frameworks:
        start = time.perf_counter()
        print(f"  {framework}: quiet, busy neighbour, two together ...", end=" ", flush=True)
        entries.append(measure(framework, args, tmp))
        print(f"{time.perf_counter() - start:.0f} s", flush=True)
    goals = print_table(entries)
    return {"entries": entries, "goals": goals}
