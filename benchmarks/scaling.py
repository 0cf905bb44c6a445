"""Weak scaling of data-parallel training over MPI: the seed MLP and the seed CNN at 1 and 2 ranks,
one thread per rank, each rank keeping its batch (the global batch grows with the ranks).

For each model and rank count the driver launches ``mpiexec -n R python scaling.py --worker ...``;
each worker trains one warm-up epoch, then one timed epoch of ``--steps`` steps on synthetic data
of Fashion-MNIST's shapes (the timing does not depend on the values), checks that every rank ends
with the same weights (the result is refused otherwise), and at R > 1 also times the native
reducer's blocking allreduce of the whole gradient (what a step would pay with no overlap).

Reported per model: step time at 1 and 2 ranks, weak-scaling efficiency t1 / t2, the blocking
allreduce time of the whole gradient and its share of the step, and the time a step actually waited
for its reductions in the loop ("waited": what overlapping them with backward did not hide). The table is printed and the JSON written to
``benchmarks/results/scaling.json``. Run it on a quiet machine (the load average is printed and
recorded: on 2 cores another busy process makes the 2-rank figure meaningless)::

    .venv/bin/python benchmarks/scaling.py [--steps 60] [--models mlp,cnn] [--ranks 1,2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PER_RANK_BATCH = {"mlp": 128, "cnn": 32}  # W1's and W5's batches (benchmarks/bench/workloads.py)


def build(name: str):
    """The seed MLP (W1: 784-512-512-10, Dropout 0.2, RMSprop) or the seed CNN (W5, Adam)."""
    import axonal
    from axonal import layers

    axonal.set_seed(1)
    if name == "mlp":
        model = axonal.Sequential([layers.Input((784,)), layers.Dense(512, activation="relu"), layers.Dropout(0.2),
                                   layers.Dense(512, activation="relu"), layers.Dropout(0.2),
                                   layers.Dense(10, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        model = axonal.Sequential([
            layers.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(1024, activation="sigmoid"), layers.Dropout(0.2),
            layers.Dense(1024, activation="sigmoid"), layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def worker(args) -> None:
    import axonal
    from axonal.distribution import DataParallel, set_distribution

    dp = DataParallel()
    set_distribution(dp)
    model = build(args.model)
    global_batch = PER_RANK_BATCH[args.model] * dp.size
    rows = global_batch * args.steps
    rng = np.random.default_rng(0)
    shape = (rows, 784) if args.model == "mlp" else (rows, 28, 28, 1)
    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, 10, size=rows)

    times = []

    class Clock(axonal.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            times.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            times[-1] = time.perf_counter() - times[-1]

    waited = [0.0]
    if dp.size > 1:
        from axonal.distribution.native import make_reducer

        class Waits(axonal.callbacks.Callback):  # the reducer's blocked time during the timed epoch
            def on_epoch_begin(self, epoch, logs=None):
                waited[0] = make_reducer(dp).waited_seconds

            def on_epoch_end(self, epoch, logs=None):
                waited[0] = make_reducer(dp).waited_seconds - waited[0]
    model.fit(x, y, batch_size=global_batch, epochs=2, verbose=0, shuffle=True,
              callbacks=[Clock()] + ([Waits()] if dp.size > 1 else []))
    step = times[1] / args.steps
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights())).hexdigest()
    digests = dp.communicator.allgather(np.frombuffer(bytes.fromhex(digest[:16]), dtype=np.uint64)) \
        if dp.size > 1 else np.zeros(1)
    parameters = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    allreduce = None
    if dp.size > 1:
        from axonal.distribution.native import make_reducer

        reducer = make_reducer(dp)
        gradient = np.zeros(parameters, dtype=np.float32)
        for _ in range(3):
            reducer.allreduce(gradient)
        samples = []
        for _ in range(20):
            dp.communicator.barrier()
            start = time.perf_counter()
            reducer.allreduce(gradient)
            samples.append(time.perf_counter() - start)
        allreduce = float(np.median(samples))
    if dp.is_chief:
        print(json.dumps({"model": args.model, "ranks": dp.size, "step_s": step, "global_batch": global_batch,
                          "parameters": parameters, "allreduce_s": allreduce,
                          "exposed_wait_s": waited[0] / args.steps if dp.size > 1 else None,
                          "weights_equal": bool((digests == digests[0]).all())}))


def driver(args) -> None:
    mpiexec = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if mpiexec is None:
        sys.exit("benchmarks/scaling.py needs mpiexec: pip install '.[mpi]'")
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.2f} on {os.cpu_count()} cores" +
          ("  (busy: these figures are not benchmarks)" if load > 0.5 else ""))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = str(ROOT / "python") + os.pathsep + env.get("PYTHONPATH", "")
    results = []
    for model in args.models.split(","):
        for ranks in (int(r) for r in args.ranks.split(",")):
            command = [mpiexec, "-n", str(ranks), sys.executable, __file__, "--worker", "--model", model,
                       "--steps", str(args.steps)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                sys.exit(f"{model} at {ranks} ranks failed:\n{done.stdout}\n{done.stderr}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if not result["weights_equal"]:
                sys.exit(f"{model} at {ranks} ranks: the ranks' weights differ; the timing is refused")
            results.append(result)
    print(f"\n{'model':6} {'ranks':>5} {'batch':>6} {'step ms':>9} {'efficiency':>10} {'allreduce ms':>13} "
          f"{'share':>6} {'waited ms':>10} {'params':>9}")
    summary = []
    for model in args.models.split(","):
        base = next((r for r in results if r["model"] == model and r["ranks"] == 1), None)
        for r in (r for r in results if r["model"] == model):
            efficiency = base["step_s"] / r["step_s"] if base else None
            share = r["allreduce_s"] / r["step_s"] if r["allreduce_s"] else None
            r.update(efficiency=efficiency, allreduce_share=share)
            efficiency_text = "" if efficiency is None else f"{efficiency:.1%}"
            allreduce_text = "" if r["allreduce_s"] is None else f"{r['allreduce_s'] * 1e3:.3f}"
            share_text = "" if share is None else f"{share:.1%}"
            waited_text = "" if r.get("exposed_wait_s") is None else f"{r['exposed_wait_s'] * 1e3:.3f}"
            print(f"{model:6} {r['ranks']:>5} {r['global_batch']:>6} {r['step_s'] * 1e3:>9.2f} {efficiency_text:>10} "
                  f"{allreduce_text:>13} {share_text:>6} {waited_text:>10} {r['parameters']:>9}")
            summary.append(r)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(".tmp")
    temporary.write_text(json.dumps({"load_average": load, "cores": os.cpu_count(), "steps": args.steps,
                                     "results": summary}, indent=2))
    temporary.replace(out)  # atomically: no half-written results file
    print(f"\nJSON: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="mlp", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per run (after a warm-up epoch)")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "scaling.json"))
    args = parser.parse_args()
    worker(args) if args.worker else driver(args)


if __name__ == "__main__":
    main()
