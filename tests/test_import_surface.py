"""What ``import axonal`` gives a Keras program: the modules Keras has, as attributes (the slow ones
loaded on first use), ``axonal.version()``, and an import that stays fast and light."""
import importlib
import subprocess
import sys
import time
import types

import pytest

import axonal

KERAS_MODULES = ["datasets", "layers", "models", "utils", "callbacks", "optimizers", "losses", "metrics",
                 "initializers", "regularizers", "activations", "backend", "preprocessing"]
LAZY = ["datasets", "preprocessing"]
# What `import axonal` must not load: heavy, or only needed by the lazy modules.
NOT_IMPORTED = ["axonal.datasets", "axonal.preprocessing", "matplotlib", "scipy", "h5py", "PIL", "pandas",
                "sklearn", "urllib.request", "tarfile"]
IMPORT_BOUND_SECONDS = 0.3
WALL_BOUND_SECONDS = 2.0


def _exists(name: str) -> bool:
    return importlib.util.find_spec(f"axonal.{name}") is not None


@pytest.mark.parametrize("name", KERAS_MODULES)
def test_each_keras_module_is_an_attribute_of_axonal(name):
    if not _exists(name):
        pytest.skip(f"axonal.{name} is not in this checkout yet")
    module = getattr(axonal, name)
    assert isinstance(module, types.ModuleType) and module.__name__ == f"axonal.{name}"
    assert name in dir(axonal)


def test_version():
    assert axonal.version() == axonal.__version__
    assert isinstance(axonal.__version__, str) and axonal.__version__.count(".") >= 2


def _fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_import_axonal_loads_no_heavy_or_lazy_module():
    loaded = _fresh("import sys, axonal; print(' '.join(sys.modules))").split()
    assert [name for name in NOT_IMPORTED if name in loaded] == []


def test_lazy_modules_load_on_first_access_and_are_then_plain_attributes():
    code = ("import sys, axonal; before = 'axonal.datasets' in sys.modules; d = axonal.datasets; "
            "print(before, 'axonal.datasets' in sys.modules, 'datasets' in vars(axonal), d.mnist.__name__)")
    assert _fresh(code).split() == ["False", "True", "True", "axonal.datasets.mnist"]


def test_from_axonal_import_a_lazy_module_works():
    assert _fresh("from axonal import datasets; print(datasets.__name__)").strip() == "axonal.datasets"


def test_a_missing_lazy_package_is_an_attribute_error(monkeypatch):
    """hasattr() must say False (not raise) when the package is absent from an installation."""
    def missing(name, package=None):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.delitem(vars(axonal), "preprocessing", raising=False)
    monkeypatch.setattr(importlib, "import_module", missing)
    assert not hasattr(axonal, "preprocessing")
    with pytest.raises(AttributeError, match="no axonal.preprocessing package"):
        axonal.preprocessing


def test_a_broken_dependency_of_a_lazy_package_is_not_hidden(monkeypatch):
    def broken(name, package=None):
        raise ModuleNotFoundError("No module named 'scipy'", name="scipy")

    monkeypatch.delitem(vars(axonal), "datasets", raising=False)
    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="scipy"):
        axonal.datasets


def test_unknown_attributes_still_raise():
    with pytest.raises(AttributeError, match="no attribute 'not_a_module'"):
        axonal.not_a_module


def test_import_axonal_is_fast():
    """Best of three fresh interpreters, timed inside them (interpreter start-up excluded). The CPU
    time the import costs the importing thread is held to the issue's 0.3 s (about 0.2 s here);
    wall-clock time, which a loaded machine stretches (0.2 s idle, 0.5 s at a load of 8 on 2 cores),
    gets a generous bound that still catches an import that waits on something (the network, a
    lock, a subprocess). The importing thread's CPU (``thread_time``), not the process's: numpy's
    OpenBLAS starts a thread pool at import whose idle threads spin for ~0.1 s before they sleep,
    which made the process's CPU time 0.30-0.31 s on a quiet 2-core machine (0.20 s on this thread)."""
    code = ("import time; t, c = time.perf_counter(), time.thread_time(); import axonal; "
            "print(time.perf_counter() - t, time.thread_time() - c)")
    runs = [tuple(map(float, _fresh(code).split())) for _ in range(3)]
    wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
    assert cpu < IMPORT_BOUND_SECONDS, f"import axonal used {cpu:.3f} s of CPU"
    assert wall < WALL_BOUND_SECONDS, f"import axonal took {wall:.3f} s"
