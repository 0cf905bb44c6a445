"""The printed report: the machine, one table per workload, the sweep's two tables, summaries.

Ratios are peer time / axonal time, so a ratio above 1 means axonal is faster. Only results whose
status is ``ok`` (their accuracy band passed) enter a ratio.
"""
from __future__ import annotations

import math

from bench import workloads as wl

TITLES = dict({name: w.title for name, w in wl.TRAINING.items()},
              W4=f"predict on the test set with W1's trained model, batch {wl.PREDICT_BATCH}, "
                 f"median of {wl.PREDICT_CALLS} calls after a warm-up",
              W7="predict latency: the seed MLP (shared random weights) on 1 row and on 10k rows as one batch",
              sweep="3-layer ReLU MLP 784-w-w-10, RMSprop, ms per training step")
UNITS = {"W1": "s/epoch", "W2": "s/epoch", "W3": "s/epoch", "W4": "s/predict", "W5": "s/epoch", "W6": "s/epoch",
         "W7": "s/predict", "sweep": "ms/step"}
# W7's goals (issue 21): one-row predict at least this many times faster than Keras, and at most this
# many times onnxruntime's time on the model axonal exports.
LATENCY_GOALS = {"keras": 10.0, "onnxruntime": 1.5}
DECIMALS = {"s/epoch": 3, "s/predict": 4, "ms/step": 3}


def print_machine(machine: dict, peak: dict, quick: bool) -> None:
    print(f"machine: {machine['cpu']}, {machine['cores']} cores ({machine['available_cores']} available), "
          f"load average {machine['load_average_1min']:.2f}, OMP_NUM_THREADS={machine['OMP_NUM_THREADS'] or 'unset'}")
    if machine["load_average_1min"] > 0.5 * machine["available_cores"]:
        print("  warning: the machine is busy; timings with 2 threads are meaningless next to another job")
    if "threads" in peak:
        print(f"threads: axonal {peak['threads']} (one OpenMP pool for MKL and the kernels); each framework's "
              "count is in its tables")
    if "isa" in peak:
        print(f"ISA: axonal's kernels use {peak['isa']} (AXONAL_ISA={peak['AXONAL_ISA'] or 'unset'}; widest on this "
              f"CPU {peak['best_isa']}); GEMM {peak['gemm']}; {peak['blas']}")
    if peak.get("status") == "ok":
        one = f", {peak['gflops_1_thread']:.0f} on 1 thread" if "gflops_1_thread" in peak else ""
        isa = f" with {peak['isa']} vectors" if "isa" in peak else ""
        print(f"peak: fp32 FMA {peak['gflops']:.0f} GFLOP/s on {peak['threads']} threads{isa}{one}")
    else:
        print("peak: not measured")
    if quick:
        print("QUICK MODE: tiny subsets, 1 timed epoch, bands relaxed to 'finite loss'. "
              "These numbers are smoke tests, not benchmarks.")


def ok(result: dict) -> bool:
    return result.get("status") == "ok" and "median" in result


def summarize(rows: list[dict]) -> dict:
    """axonal's time, the fastest peer's, and their ratio (None where either is missing)."""
    axonal = next((r for r in rows if r["framework"] == "axonal" and ok(r)), None)
    peers = [r for r in rows if r["framework"] in wl.PEERS and ok(r)]
    fastest = min(peers, key=lambda r: r["median"], default=None)
    ratio = fastest["median"] / axonal["median"] if axonal and fastest else None
    return {"axonal_time": axonal and axonal["median"], "fastest_peer": fastest and fastest["framework"],
            "fastest_peer_time": fastest and fastest["median"], "axonal_vs_fastest_peer": ratio}


def _cell(value, decimals: int, width: int) -> str:
    """A right-aligned number, or '-' for a missing or non-finite one."""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:{width}.{decimals}f}"
    return f"{'-':>{width}}"


def print_workload(name: str, rows: list[dict]) -> dict:
    """One workload's table and summary line; returns the summary."""
    unit = UNITS[name]
    extra = {"W1": ("GFLOP/s", "gflops", 1), "W3": ("GFLOP/s", "gflops", 1), "W6": ("GFLOP/s", "gflops", 1),
             "W2": ("us/step", "us_per_step", 1)}.get(name)
    summary = summarize(rows)
    print(f"\n{name}: {TITLES[name]}")
    header = f"  {'framework':<17} {unit:>10} {'x axonal':>9} {'test acc':>9} {'RSS MB':>7} {'threads':>7}"
    print(header + (f" {extra[0]:>9}" if extra else "") + "  status")
    for r in rows:
        ratio = r["median"] / summary["axonal_time"] if ok(r) and summary["axonal_time"] else None
        line = (f"  {r['framework']:<17} {_cell(r.get('median'), DECIMALS.get(unit, 3), 10)} {_cell(ratio, 2, 9)} "
                f"{_cell(r.get('test_accuracy'), 4, 9)} {_cell(r.get('peak_rss_mb'), 0, 7)} "
                f"{_cell(r.get('threads'), 0, 7)}")
        line += f" {_cell(r.get(extra[1]), extra[2], 9)}" if extra else ""
        print(f"{line}  {r['status']}")
    print(f"  {name} axonal vs fastest peer: " + (
        f"{summary['axonal_vs_fastest_peer']:.2f}x ({summary['fastest_peer']})"
        if summary["axonal_vs_fastest_peer"] else "n/a (needs an ok axonal and an ok peer)"))
    return summary


def print_flop_rate(rows: list[dict], peak: dict) -> None:
    """W1's model FLOP rate and its share of the machine's FMA peak."""
    axonal = next((r for r in rows if r["framework"] == "axonal" and ok(r)), None)
    if axonal is None:
        return
    flops = wl.training_flops(wl.SEED_MLP, axonal["train_rows"])
    line = f"  W1 model FLOPs per epoch {flops:.3g}: axonal {axonal['gflops']:.0f} GFLOP/s"
    if peak.get("status") == "ok":
        line += (f" = {100 * axonal['gflops'] / peak['gflops']:.0f}% of the {peak['gflops']:.0f} GFLOP/s "
                 f"{peak.get('isa', '')} peak")
    print(line + ("" if peak.get("status") == "ok" else " (peak: not measured)"))


def print_residual_cost(results: list[dict]) -> dict:
    """W6 (functional residual MLP) against W1 (the same GEMMs as a stack): each framework's time
    per FLOP on W6 relative to W1's (1.00: the graph costs nothing; the issue asks <= 1.10)."""
    print("\n  W6 time per FLOP / W1 time per FLOP (the functional graph's cost):")
    costs = {}
    for w1 in (r for r in results if r.get("workload") == "W1" and ok(r) and r.get("gflops")):
        w6 = next((r for r in results if r.get("workload") == "W6" and r["framework"] == w1["framework"]
                   and ok(r) and r.get("gflops")), None)
        if w6 is not None:
            costs[w1["framework"]] = w1["gflops"] / w6["gflops"]
            print(f"    {w1['framework']:<17} {costs[w1['framework']]:.3f}")
    return costs


def print_sweep(rows: list[dict], quick: bool) -> dict:
    """One table per axis: rows are configurations, columns frameworks (ms/step), then peer/axonal."""
    done = [r for r in rows if "configs" in r]
    names = [r["framework"] for r in done]
    batches, widths = (wl.QUICK_SWEEP_BATCHES, wl.QUICK_SWEEP_WIDTHS) if quick else (wl.SWEEP_BATCHES, wl.SWEEP_WIDTHS)
    axes = {"batch": [(b, wl.SWEEP_WIDTH) for b in batches], "width": [(wl.SWEEP_BATCH, w) for w in widths]}
    print(f"\nsweep: {TITLES['sweep']}")
    summary = {}
    for axis, configs in axes.items():
        fixed = f"width {wl.SWEEP_WIDTH}" if axis == "batch" else f"batch {wl.SWEEP_BATCH}"
        print(f"  by {axis} ({fixed}), ms/step; peer/axonal = fastest peer's time / axonal's")
        print(f"    {'config':<8}" + "".join(f" {n:>16}" for n in names) + "  peer/axonal")
        for batch, width in configs:
            times = {}
            for r in done:
                entry = next((c for c in r["configs"] if (c["batch"], c["width"]) == (batch, width)), {})
                times[r["framework"]] = entry.get("ms_per_step") if entry.get("status") == "ok" else None
            peers = [t for n, t in times.items() if n in wl.PEERS and t]
            ratio = min(peers) / times["axonal"] if peers and times.get("axonal") else None
            label = f"b={batch}" if axis == "batch" else f"w={width}"
            summary[f"{label} ({fixed})"] = ratio
            print(f"    {label:<8}" + "".join(_cell(times[n], 3, 17) for n in names)
                  + f"  {_cell(ratio, 2, 11)}")
    for r in rows:
        if r.get("status") != "ok":
            print(f"  {r['framework']}: {r['status']}")
    return summary


def print_latency(rows: list[dict]) -> dict:
    """W7's table: 1-row and 10k-row predict per framework and each one's time over axonal's, then
    the goals: Keras (every backend) / axonal >= 10 on one row, axonal / onnxruntime <= 1.5."""
    print(f"\nW7: {TITLES['W7']}")
    print(f"  {'framework':<17} {'1 row us':>10} {'x axonal':>9} {'10k rows ms':>12} {'x axonal':>9} "
          f"{'max|diff|':>10} {'threads':>7}  status")
    axonal = next((r for r in rows if r["framework"] == "axonal" and ok(r)), None)
    summary = {}
    for r in rows:
        one = r["median"] / axonal["median"] if ok(r) and axonal else None
        many = r["many_rows_median"] / axonal["many_rows_median"] if ok(r) and axonal else None
        diff = f"{r['max_abs_difference']:10.1e}" if "max_abs_difference" in r else f"{'-':>10}"
        print(f"  {r['framework']:<17} {_cell(r.get('one_row_us'), 1, 10)} {_cell(one, 2, 9)} "
              f"{_cell(1e3 * r['many_rows_median'] if ok(r) else None, 2, 12)} {_cell(many, 2, 9)} {diff} "
              f"{_cell(r.get('threads'), 0, 7)}  {r['status']}")
        if r["framework"] != "axonal" and one is not None:
            summary[r["framework"]] = {"one_row_vs_axonal": one, "many_rows_vs_axonal": many}
    for peer, ratios in summary.items():
        if peer.startswith("keras-"):
            met = "met" if ratios["one_row_vs_axonal"] >= LATENCY_GOALS["keras"] else "NOT met"
            print(f"  goal: 1-row predict >= {LATENCY_GOALS['keras']:.0f}x faster than {peer}: "
                  f"{ratios['one_row_vs_axonal']:.1f}x, {met}")
    if "onnxruntime" in summary:
        within = 1 / summary["onnxruntime"]["one_row_vs_axonal"]
        met = "met" if within <= LATENCY_GOALS["onnxruntime"] else "NOT met"
        print(f"  goal: 1-row predict within {LATENCY_GOALS['onnxruntime']}x of onnxruntime: axonal takes "
              f"{within:.2f}x its time, {met}")
    return summary


def print_report(results: list[dict], peak: dict, wanted: list[str], quick: bool) -> dict:
    """Every table, in the order asked for; returns the summaries for the JSON."""
    summaries = {}
    for name in wanted:
        rows = [r for r in results if r.get("workload") == name]
        if name == "sweep":
            summaries[name] = print_sweep(rows, quick)
            continue
        if name == "W7":
            summaries[name] = print_latency(rows)
            continue
        summaries[name] = print_workload(name, rows)
        if name == "W1":
            print_flop_rate(rows, peak)
        if name == "W6" and "W1" in wanted:
            summaries["W6_per_flop_vs_W1"] = print_residual_cost(results)
    return summaries
