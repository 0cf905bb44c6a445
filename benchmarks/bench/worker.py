"""The child process: one framework, one group of workloads, one protocol for every framework.

``run.py --worker SPEC RESULT`` lands here. The spec (JSON, written by ``launcher``) names the
framework, the workloads (W4 shares W1's process: it predicts with W1's trained model; W7 is
``bench/latency.py``), the epochs and the data; the result file receives a list of result dicts, rewritten after every workload so
that a crash later still leaves the earlier results. The protocol lives here once; the runners
only build, train and predict.
"""
from __future__ import annotations

import json
import math
import os
import resource
import statistics
import time
import traceback

from bench import emulation, workloads as wl

EVAL_BATCH = 1024              # test-set evaluation (not timed)
SWEEP_REPEATS, SWEEP_CALIBRATION_STEPS = 3, 8
SWEEP_TARGET_S, SWEEP_MAX_STEPS = 0.5, 2000        # one timed fit lasts about 0.3-1 s
QUICK_SWEEP_TARGET_S, QUICK_SWEEP_MAX_STEPS = 0.05, 20


def make_runner(framework: str, seed: int, device: str = "cpu"):
    """The runner for ``framework`` on ``device`` (cpu, or cuda for axonal and torch); raises
    ImportError when the framework is not installed."""
    if framework in ("axonal", "axonal-numpy"):
        from bench.keras_style import AxonalRunner
        return AxonalRunner({"axonal": device, "axonal-numpy": "numpy"}[framework], seed)
    if framework.startswith("keras-"):
        from bench.keras_style import KerasRunner
        return KerasRunner(framework.split("-", 1)[1], seed)
    if framework == "torch":
        from bench.torch_runner import TorchRunner
        return TorchRunner(seed, device)
    if framework == "jax-scan":
        from bench.jax_scan_runner import JaxScanRunner
        return JaxScanRunner(seed)
    if framework == "onnxruntime":
        from bench.onnx_runner import OnnxRuntimeRunner
        return OnnxRuntimeRunner(seed)
    raise ValueError(f"unknown framework {framework!r}")


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def band_status(value: float, minimum: float, loss: float, quick: bool) -> str:
    """``ok`` or why not. Quick runs only ask for a finite loss: their subsets are too small to learn."""
    if not math.isfinite(loss):
        return f"FAILED band (loss {loss})"
    if quick or value >= minimum:
        return "ok"
    return f"FAILED band (accuracy {value:.4f} < {minimum:.2f})"


def run_training(runner, workload: wl.Workload, data, epochs: int, quick: bool):
    """Warm-up epoch + ``epochs`` timed epochs in one ``fit``; test accuracy checked against the band."""
    x_train, y_train, x_test, y_test = data
    model = runner.build(workload.model, workload.optimizer, workload.learning_rate)
    seconds, loss = runner.train(model, runner.prepare(workload.model, x_train, y_train), workload.batch, 1 + epochs)
    test_accuracy = wl.accuracy(workload.model, runner.predict(model, x_test, EVAL_BATCH), y_test)
    steps = math.ceil(len(x_train) / workload.batch)
    result = {"seconds": seconds[1:], "warmup_seconds": seconds[0], "median": statistics.median(seconds[1:]),
              "unit": "s/epoch", "train_rows": len(x_train), "steps_per_epoch": steps,
              "test_rows": len(x_test), "test_accuracy": test_accuracy, "final_loss": loss,
              "status": band_status(test_accuracy, workload.min_accuracy, loss, quick)}
    result["us_per_step"] = result["median"] / steps * 1e6
    if workload.model.dense_shapes() and workload.data == "fashion-flat":
        result["gflops"] = wl.training_flops(workload.model, len(x_train)) / result["median"] / 1e9
    return result, model


def run_predict(runner, model, x_test, y_test, quick: bool):
    """W4: ``predict`` on the test set with W1's trained model; one warm-up call, median of the rest."""
    probabilities = runner.predict(model, x_test, wl.PREDICT_BATCH)
    seconds = []
    for _ in range(wl.PREDICT_CALLS):
        start = time.perf_counter()
        probabilities = runner.predict(model, x_test, wl.PREDICT_BATCH)
        seconds.append(time.perf_counter() - start)
    test_accuracy = wl.accuracy(wl.SEED_MLP, probabilities, y_test)
    finite = float(probabilities.sum())    # a NaN anywhere makes the "loss" check fail
    return {"seconds": seconds, "median": statistics.median(seconds), "unit": "s/predict",
            "test_rows": len(x_test), "test_accuracy": test_accuracy,
            "status": band_status(test_accuracy, wl.PREDICT_MIN_ACCURACY, finite, quick)}


def _timed_fit(runner, model, spec, x, y, batch: int, steps: int):
    """Seconds and loss of one ``fit``-style epoch on exactly ``steps`` batches."""
    data = runner.prepare(spec, x[:steps * batch], y[:steps * batch])
    start = time.perf_counter()
    _, loss = runner.train(model, data, batch, 1)
    return time.perf_counter() - start, loss


def run_sweep(runner, data, quick: bool):
    """ms per training step of the 3-layer ReLU MLP over the batch and width axes (no metrics, no dropout).

    Per configuration: a warm-up fit (its loss must be finite), a calibration fit that sets K, the
    number of batches a timed fit runs (about ``SWEEP_TARGET_S`` per fit, capped), then the median of
    ``SWEEP_REPEATS`` timed fits of K batches each, divided by K.
    """
    x_train, y_train = data[0], data[1]
    target, cap = (QUICK_SWEEP_TARGET_S, QUICK_SWEEP_MAX_STEPS) if quick else (SWEEP_TARGET_S, SWEEP_MAX_STEPS)
    configs = []
    for config in wl.sweep_configs(quick):
        batch, spec = config["batch"], wl.sweep_model(config["width"])
        model = runner.build(spec, "rmsprop", 0.001, metrics=False)
        limit = min(cap, len(x_train) // batch)
        calibration = min(SWEEP_CALIBRATION_STEPS, limit)
        _, loss = _timed_fit(runner, model, spec, x_train, y_train, batch, calibration)
        entry = dict(config, warmup_loss=loss)
        if not math.isfinite(loss):
            configs.append(dict(entry, status=f"FAILED band (loss {loss})"))
            continue
        seconds, _ = _timed_fit(runner, model, spec, x_train, y_train, batch, calibration)
        steps = max(calibration, min(limit, math.ceil(target / (seconds / calibration))))
        times = [_timed_fit(runner, model, spec, x_train, y_train, batch, steps)[0] for _ in range(SWEEP_REPEATS)]
        configs.append(dict(entry, steps=steps, seconds=times, ms_per_step=statistics.median(times) / steps * 1e3,
                            status="ok"))
    failed = [c for c in configs if c["status"] != "ok"]
    return {"configs": configs, "unit": "ms/step", "status": failed[0]["status"] if failed else "ok"}


def fma_peak(seconds: float) -> dict:
    """The machine's fp32 FMA peak (GFLOP/s) at axonal's thread count, and on one thread.

    ``axonal._native.fma_peak_gflops`` is a recent addition: without it the peak is "not measured".
    """
    from axonal import _native

    threads = _native.get_num_threads()
    if not hasattr(_native, "fma_peak_gflops"):
        return {"status": "not measured", "threads": threads, "detail": "axonal._native has no fma_peak_gflops"}
    # The peak of the instruction set the kernels use (AXONAL_ISA caps it), not only the widest.
    isa = _native.get_isa()
    try:
        _native.fma_peak_gflops(1, 0.01, isa)
        measure = lambda n: _native.fma_peak_gflops(n, seconds, isa)  # noqa: E731
    except TypeError:  # an older build (a baseline run): its peak is the widest ISA's
        isa = _native.fma_peak_isa().replace("avx512f", "avx512")
        measure = lambda n: _native.fma_peak_gflops(n, seconds)  # noqa: E731
    peak = {"status": "ok", "threads": threads, "isa": isa, "best_isa": _native.best_isa(),
            "AXONAL_ISA": os.environ.get("AXONAL_ISA"), "gemm": _native.get_gemm(),
            "blas": _native.blas_version(), "gflops": measure(threads)}
    if threads > 1:
        peak["gflops_1_thread"] = measure(1)
    return peak


def main(spec_path: str, result_path: str) -> int:
    """Run the spec's workloads in this process and write their results to ``result_path``."""
    with open(spec_path) as handle:
        spec = json.load(handle)
    framework, quick = spec["framework"], spec["quick"]
    emulation.install_if_requested()
    if spec.get("task") == "peak":
        return _write(result_path, [dict(fma_peak(spec["seconds"]), workload="peak")])
    results = []
    base = {"framework": framework}
    try:
        runner = make_runner(framework, spec["seed"], spec.get("device", "cpu"))
    except ImportError as error:
        # A peer that does not import is simply absent; axonal failing to import is a broken build.
        status = "not installed" if framework in wl.PEERS else f"error: ImportError: {error}"
        return _write(result_path, [dict(base, workload=w, status=status, detail=str(error))
                                    for w in spec["workloads"]])
    base["threads"] = runner.threads()
    cache, model_w1 = {}, None
    for name in spec["train_w1"] + spec["workloads"]:
        try:
            workload = wl.TRAINING.get(name, wl.TRAINING["W1"])   # W4 and the sweep read W1's data
            key = (workload.data, spec["train_rows"].get(name))
            if key not in cache and name != "W7":   # W7 reads its own weights and rows
                cache = {key: wl.load_data(workload.data, key[1], spec["test_rows"], spec["churn_npz"])}
            data = cache.get(key)
            if name == "W7":
                from bench.latency import run_latency
                result = run_latency(runner, spec["latency_npz"], quick)
            elif name == "sweep":
                result = run_sweep(runner, data, quick)
            elif name == "W4":
                if model_w1 is None:
                    raise RuntimeError("W1's training, which W4 predicts with, did not finish")
                result = run_predict(runner, model_w1, data[2], data[3], quick)
            else:
                epochs = spec["epochs"] if quick else max(spec["epochs"], workload.min_timed_epochs)
                result, model = run_training(runner, workload, data, epochs, quick)
                model_w1 = model if name == "W1" else model_w1
        except Exception as error:  # one workload's failure must not hide the others
            traceback.print_exc()
            last = (str(error).strip().splitlines() or [""])[-1]
            result = {"status": f"error: {type(error).__name__}: {last}"}
        if name not in spec["train_w1"]:
            results.append(dict(base, workload=name, peak_rss_mb=peak_rss_mb(), **result))
            _write(result_path, results)
    return 0


def _write(path: str, results: list) -> int:
    with open(path + ".tmp", "w") as handle:
        json.dump(results, handle, indent=1)
    os.replace(path + ".tmp", path)
    return 0
