"""The benchmark runner of the CPU speed issue: axonal against every installed peer, same data and settings.

Workloads (see benchmarks/README.md): W1 seed MLP epoch, W2 churn epoch (800 small steps), W3
sigmoid MLP epoch, W4 predict on the test set, W5 seed CNN epoch, W6 a functional residual MLP of
W1's FLOPs (its time per FLOP against W1's is printed), W7 predict latency (the seed MLP's
``predict`` of 1 row and of 10k rows), and the sweep (ms per training step over batch size and
width). Frameworks: axonal (cpu backend), axonal-numpy (the reference, W1/W4), torch (eager, hand
loop), keras-tensorflow, keras-jax, keras-torch (Keras 3 ``fit``), jax-scan (a jitted epoch as one
``lax.scan``, W1/W2) and onnxruntime (the model axonal exports to ONNX, W7). Each framework runs each workload in its own
process; a peer that does not import is reported as "not installed". Prints the machine, its FMA
peak, one table per workload, and writes everything as JSON.

Usage (from the repository root; Fashion-MNIST through AXONAL_DATA):
    AXONAL_DATA=../shared/data python benchmarks/run.py [--workloads W1,W2,W3,W4,W5,W6,W7,sweep]
        [--frameworks axonal,torch,...] [--epochs 3] [--cnn-limit 12800] [--peer-python PATH]
        [--json benchmarks/results/latest.json] [--quick] [--contention]
``--quick`` runs tiny subsets for smoke tests: its numbers are not benchmarks. ``--contention`` runs
W1 of axonal and PyTorch quiet, beside a busy neighbour and as two copies together instead
(``bench/contention.py``). The FMA peak is measured with the instruction set axonal's kernels use
(``AXONAL_ISA`` caps it), so W1's share of peak is against the ISA in use.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench package, also in a peer's interpreter

from bench import workloads as wl  # noqa: E402

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def _names(text: str, allowed: tuple, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown) or '(none given)'}; "
                                         f"choose from {', '.join(allowed)}")
    return names


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workloads", type=lambda t: _names(t, wl.WORKLOADS, "workload"), default=list(wl.WORKLOADS),
                        help="comma list of " + ",".join(wl.WORKLOADS))
    parser.add_argument("--frameworks", type=lambda t: _names(t, wl.FRAMEWORKS, "framework"),
                        default=list(wl.FRAMEWORKS), help="comma list of " + ",".join(wl.FRAMEWORKS))
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: axonal's cuda backend against PyTorch CUDA eager on the same GPU "
                             "(frameworks axonal and torch only)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs, after one warm-up epoch")
    parser.add_argument("--cnn-limit", type=int, default=12800, help="W5 trains on the first N images")
    parser.add_argument("--peer-python", default="", help="interpreter with the peers (default: this one)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write every result")
    parser.add_argument("--quick", action="store_true", help="tiny subsets for smoke tests, not benchmarks")
    parser.add_argument("--data", default=os.environ.get("AXONAL_DATA"), help="AXONAL_DATA for the children")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to one child process")
    parser.add_argument("--peak-seconds", type=float, default=1.0, help="duration of each FMA peak measurement")
    parser.add_argument("--contention", action="store_true",
                        help="W1 of axonal and torch quiet, beside a busy neighbour, and two copies together "
                             "(bench/contention.py); --epochs applies")
    parser.add_argument("--worker", nargs=2, metavar=("SPEC", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.device == "cuda":
        args.frameworks = [f for f in args.frameworks if f in wl.ON_CUDA]
        if not args.frameworks:
            parser.error(f"--device cuda runs only {', '.join(wl.ON_CUDA)}")
    if args.quick:
        args.epochs, args.peak_seconds = 1, min(args.peak_seconds, 0.2)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        from bench import worker
        return worker.main(*args.worker)

    from bench import launcher, report
    from bench.latency import make_latency_data

    start = time.perf_counter()
    machine = launcher.machine_info()
    if args.contention:
        return _contention(args, machine, start)
    jobs = launcher.plan(args.frameworks, args.workloads)
    with tempfile.TemporaryDirectory(prefix="axonal-bench-") as tmp:
        churn = str(Path(tmp) / "churn.npz") if "W2" in args.workloads else None
        if churn:
            wl.make_churn(churn)  # generated once here: every framework trains on the same arrays
        latency = str(Path(tmp) / "latency.npz") if "W7" in args.workloads else None
        if latency:
            make_latency_data(latency, args.seed)  # every framework predicts with the same weights and rows
        peak = launcher.measure_peak(args, Path(tmp))
        report.print_machine(machine, peak, args.quick)
        print(f"running {len(jobs)} processes, one at a time:")
        results = launcher.run_all(jobs, args, Path(tmp), churn, latency)
    summaries = report.print_report(results, peak, args.workloads, args.quick)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; JSON: {args.json}")

    settings = {k: v for k, v in vars(args).items() if k != "worker"}
    _write_json(Path(args.json), {"quick": args.quick, "settings": settings, "machine": machine, "peak": peak,
                                  "w1_flops_per_epoch": wl.training_flops(wl.SEED_MLP, 60000),
                                  "summaries": summaries, "results": results})
    return 0


def _contention(args, machine: dict, start: float) -> int:
    """``--contention``: the shared-machine table (bench/contention.py) and its JSON."""
    from bench import contention, launcher, report

    with tempfile.TemporaryDirectory(prefix="axonal-bench-") as tmp:
        peak = launcher.measure_peak(args, Path(tmp))
        report.print_machine(machine, peak, args.quick)
        outcome = contention.main(args, Path(tmp))
    print(f"\ntotal {time.perf_counter() - start:.0f} s; JSON: {args.json}")
    _write_json(Path(args.json), {"quick": args.quick, "contention": True, "machine": machine, "peak": peak,
                                  "settings": {k: v for k, v in vars(args).items() if k != "worker"}, **outcome})
    return 0


def _write_json(path: Path, content: dict) -> None:
    """Written whole or not at all (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=1) + "\n")
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())
