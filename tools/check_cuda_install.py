"""Check an installed CPU wheel + CUDA wheel (axonal-cuda13) and its dependencies, in a fresh venv.

Run it from outside the source tree with the venv's Python: python /path/to/check_cuda_install.py
(exit status 1 on a problem). It checks what a user of the two wheels meets on any machine:

- `axonal` and `axonal._cuda` both import from the installed package (one `axonal/` folder);
- `axonal._cuda` loads cuBLAS from the `nvidia-cublas` wheel beside it (its run path), not from a
  system toolkit, and says what it was built with;
- `axonal.backends()` lists `cpu` and `numpy` as available and, where no GPU can be used, gives the
  reason for `cuda` (no driver, no GPU, a driver too old), never a packaging fault (extension or
  cupy missing, a library not found); `set_backend("cuda")` then refuses with that reason;
- a small model trains on the default backend, `cpu`.

Where a GPU is usable the backend reports `available`; the kernels' own checks are then
tests/test_cuda_parity.py, which this script does not replace.
"""
from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import numpy as np

import axonal

# Reasons for an unusable cuda backend that only the machine can cause; any other reason is a fault
# of the wheels or their dependencies.
MACHINE_REASONS = ("no NVIDIA driver", "no usable NVIDIA driver", "the NVIDIA driver supports CUDA",
                   "no CUDA GPU is visible", "has compute capability")


def loaded_library(name: str) -> Path | None:
    """The file this process mapped for a shared library whose name starts with ``name``."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if Path(path).name.startswith(name):
                return Path(path)
    return None


def problems() -> list[str]:
    found = []
    site = Path(sysconfig.get_paths()["platlib"]).resolve()
    package = Path(axonal.__file__).resolve().parent
    print(f"axonal {axonal.__version__} from {package}")
    if package.parent != site:
        found.append(f"axonal is imported from {package}, not from this environment's {site}")

    try:
        from axonal import _cuda
    except ImportError as error:  # not installed, or a library it needs is not found
        return found + [f"axonal._cuda does not import: {error}"]
    print(f"axonal._cuda {Path(_cuda.__file__).name}: CUDA runtime {_cuda.cuda_runtime_version} (static), "
          f"{_cuda.architectures}, {_cuda.cublas_version()}")
    if Path(_cuda.__file__).resolve().parent != package:
        found.append(f"axonal._cuda is at {_cuda.__file__}, outside the axonal package {package}")
    cublas = loaded_library("libcublas.so")
    print(f"cuBLAS loaded from {cublas}")
    if cublas is None or not cublas.resolve().is_relative_to(site / "nvidia"):
        found.append(f"libcublas was not loaded from the nvidia-cublas wheel under {site / 'nvidia'}: {cublas}")
    if loaded_library("libcudart.so"):  # looked for before cupy is imported, which may load its own
        found.append("libcudart.so was loaded: the extension should carry the CUDA runtime statically")

    report = axonal.backends()
    for name, status in report.items():
        print(f"backend {name:<6} {status}")
    for name in ("cpu", "numpy"):
        if report[name] != "available":
            found.append(f"backend {name} is not available: {report[name]}")
    reason = report["cuda"]
    if reason != "available":
        if not any(machine in reason for machine in MACHINE_REASONS):
            found.append(f"cuda is unavailable for a reason that is not the machine's: {reason}")
        try:
            axonal.set_backend("cuda")
            found.append("set_backend('cuda') succeeded although backends() says it is unavailable")
        except ValueError as error:
            if "not available" not in str(error):
                found.append(f"set_backend('cuda') refused without the reason: {error}")

    found += train_on_cpu()
    return found


def train_on_cpu() -> list[str]:
    """A two-class problem (the sign of x0 * x1) a small MLP learns in a few epochs, on the default backend."""
    from axonal.backend import backend_name
    from axonal.layers import Dense, Input
    from axonal.models import Sequential

    axonal.set_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(512, 4)).astype("float32")
    y = (x[:, 0] * x[:, 1] > 0).astype("float32").reshape(-1, 1)
    model = Sequential([Input(shape=(4,)), Dense(16, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=60, verbose=0)
    losses = history.history["loss"]
    accuracy = history.history["accuracy"][-1]
    print(f"trained on {backend_name()}: loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {accuracy:.3f}")
    found = []
    if backend_name() != "cpu":
        found.append(f"the default backend is {backend_name()}, not cpu")
    if not losses[-1] < 0.5 * losses[0] or accuracy < 0.9:
        found.append(f"training on cpu did not converge: loss {losses}, accuracy {accuracy}")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"  - {problem}")
    print("CUDA wheel install: OK" if not found else f"CUDA wheel install: {len(found)} problem(s)")
    return bool(found)


if __name__ == "__main__":
    sys.exit(main())
