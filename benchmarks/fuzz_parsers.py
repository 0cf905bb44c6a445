"""Long fuzzing campaign over the file parsers: IDX, CSV and .npz readers, the dataset loading
path, ``load_model`` and ``load_weights`` (targets in ``tests/fuzz_datasets.py`` and
``tests/fuzz_models.py``; the short, derandomised run of the same targets is
``tests/test_fuzz_parsers.py``).

Each target runs in its own worker process, so a crash (a signal, the kernel's OOM killer) is seen
as that worker's exit status instead of ending the campaign. A worker caps its address space
(``--memory-gib``), so any allocation a damaged file could trigger beyond it fails loudly; the
harness also flags traced allocations above 256 MiB and inputs slower than ``--seconds``; and a
watchdog (faulthandler) kills a worker stuck inside C code, dumping its stack. Inputs that break
a parser's contract are saved under ``--out/failures/<target>-<n>/``.

Usage (from the repository root; prints a table, writes JSON):
    python benchmarks/fuzz_parsers.py [--examples 10000] [--targets idx,csv] [--seed 1] [--out fuzz-out]
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the targets and the harness live beside the tests

TARGET_NAMES = ["idx", "csv", "npz", "load_split", "load_model", "load_weights"]


def all_targets() -> dict:
    import fuzz_datasets
    import fuzz_models
    return {target.name: target for target in fuzz_datasets.TARGETS + fuzz_models.TARGETS}


def save_failure(out: Path, failure, number: int) -> None:
    folder = out / "failures" / f"{failure.target.name}-{number}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in failure.fuzz_input.files.items():
        (folder / name).write_bytes(data)
    cause = "".join(traceback.format_exception(failure.__cause__)) if failure.__cause__ else ""
    (folder / "problem.txt").write_text(f"{failure.problem}\noptions: {failure.fuzz_input.options}\n{cause}")


def worker(name: str, examples: int, seed: int, seconds: float, memory_gib: float, out: Path) -> dict:
    """Run ``examples`` inputs of target ``name``; return the tally as a dict."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from fuzz_harness import FuzzFailure, Limits, Tally, run_one

    limit = int(memory_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    target, tally, failures = all_targets()[name], Tally(), []
    limits = Limits(seconds=seconds)
    scratch = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-")) / "input"
    start = time.perf_counter()

    def one(fuzz_input):
        # A stuck C call cannot be interrupted from Python: the watchdog ends the process instead,
        # and the input it was reading is still in the scratch folder.
        faulthandler.dump_traceback_later(max(60.0, 6 * seconds), exit=True)
        try:
            run_one(target, fuzz_input, scratch, limits, tally)
        except FuzzFailure as failure:
            failures.append(failure.problem)
            tally.outcomes["FAILURE"] += 1
            save_failure(out, failure, len(failures))
        finally:
            faulthandler.cancel_dump_traceback_later()

    # Hypothesis may stop a run a little short of max_examples; rounds continue until enough ran.
    round_number = 0
    while tally.inputs + len(failures) < examples:
        remaining = examples - tally.inputs - len(failures)
        run = settings(max_examples=remaining, database=None, deadline=None, phases=[Phase.generate],
                       suppress_health_check=list(HealthCheck))(given(target.inputs)(one))
        hypothesis_seed(seed * 1000 + round_number)(run)()
        round_number += 1
    return {"target": name, "inputs": tally.inputs + len(failures), "outcomes": dict(tally.outcomes),
            "failures": failures, "warnings": dict(tally.warnings.most_common(10)),
            "seconds": round(time.perf_counter() - start, 1), "parser_seconds": round(tally.seconds, 1),
            "slowest_input_seconds": round(tally.slowest, 3), "peak_traced_mib": round(tally.peak_bytes / 2**20, 1),
            "seed": seed, "memory_cap_gib": memory_gib, "worker_peak_mib": _peak_rss_mib()}


def _peak_rss_mib() -> float:
    """The worker's own peak resident memory (the cap above limits its virtual memory)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_target(name: str, args) -> dict:
    """Run one target's worker in a child process and read back its tally (or its crash)."""
    command = [sys.executable, __file__, "--worker", name, "--examples", str(args.examples), "--seed",
               str(args.seed), "--seconds", str(args.seconds), "--memory-gib", str(args.memory_gib),
               "--out", str(args.out)]
    start = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if child.returncode != 0:
        return {"target": name, "crashed": True, "returncode": child.returncode,
                "stderr_tail": child.stderr[-3000:], "seconds": round(time.perf_counter() - start, 1)}
    return json.loads(child.stdout.strip().splitlines()[-1])


def print_table(results: list[dict]) -> None:
    print(f"{'target':<13}{'inputs':>8}{'failures':>10}{'seconds':>9}{'slowest':>9}{'peak MiB':>10}  outcomes")
    for result in results:
        if result.get("crashed"):
            print(f"{result['target']:<13} CRASHED (exit {result['returncode']}):\n{result['stderr_tail']}")
            continue
        outcomes = ", ".join(f"{key} {value}" for key, value in sorted(result["outcomes"].items()))
        print(f"{result['target']:<13}{result['inputs']:>8}{len(result['failures']):>10}{result['seconds']:>9}"
              f"{result['slowest_input_seconds']:>9}{result['peak_traced_mib']:>10}  {outcomes}")
        for problem in sorted(set(result["failures"]))[:10]:
            print(f"    failure: {problem[:300]}")
        for warning, count in result["warnings"].items():
            print(f"    warning x{count}: {warning}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per target")
    parser.add_argument("--targets", default=",".join(TARGET_NAMES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit per input")
    parser.add_argument("--memory-gib", type=float, default=4.0, help="address-space cap of a worker")
    parser.add_argument("--out", type=Path, default=Path("fuzz-out"))
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default OUT/results.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out = args.out.resolve()
    os.environ.setdefault("AXONAL_BACKEND", "cpu")
    if args.worker:
        print(json.dumps(worker(args.worker, args.examples, args.seed, args.seconds, args.memory_gib, args.out)))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.targets.split(","):
        results.append(run_target(name, args))
        print_table(results[-1:])
        sys.stdout.flush()
    (args.json or args.out / "results.json").write_text(json.dumps(results, indent=1))
    print_table(results)
    bad = [r for r in results if r.get("crashed") or r["failures"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
