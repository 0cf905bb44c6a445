"""Backend selection.

Three modules implement the same op list (see ``docs/design.md``):

* ``numpy`` -> :mod:`axonal.backend.reference`, plain readable NumPy, the definition of every op;
* ``cpu``   -> :mod:`axonal.backend.cpu`, the C++ kernels in ``axonal._native``;
* ``cuda``  -> :mod:`axonal.backend.cuda`, the CUDA kernels in ``axonal._cuda`` on cupy arrays.

The active backend is chosen by :func:`set_backend`, else ``$AXONAL_BACKEND``, else ``cpu`` when the
native extension imports, else ``numpy``.

Keras' ``keras.backend`` utilities live here too (:mod:`axonal.backend.keras_utils`):
:func:`image_data_format`, :func:`set_image_data_format`, :func:`epsilon`, :func:`set_epsilon`,
:func:`floatx`, :func:`set_floatx`, :func:`clear_session` and :func:`backend` (``"axonal"``).
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

from axonal.backend.keras_utils import (backend, clear_session, epsilon, floatx, image_data_format, set_epsilon,
                                        set_floatx, set_image_data_format, standardize_data_format)

_MODULES = {"numpy": "axonal.backend.reference", "cpu": "axonal.backend.cpu", "cuda": "axonal.backend.cuda"}
_active: ModuleType | None = None


def _try_import(name: str) -> tuple[ModuleType | None, str]:
    """Import the backend called ``name``; return (module or None, reason it is unavailable)."""
    try:
        return importlib.import_module(_MODULES[name]), ""
    except ImportError as exc:  # an extension is missing or broken; cuda also: no cupy, driver or GPU
        return None, f"{type(exc).__name__}: {exc}"


def backends() -> dict[str, str]:
    """Every backend name mapped to ``"available"`` or the reason it cannot be used.

    Example:
        >>> axonal.backends()["numpy"]
        'available'
    """
    report = {}
    for name in _MODULES:
        module, reason = _try_import(name)
        report[name] = "available" if module is not None else reason
    return report


def set_backend(name: str) -> None:
    """Make ``name`` (``"numpy"``, ``"cpu"`` or ``"cuda"``) the backend for models built from now on.

    Raises:
        ValueError: for an unknown name, or a backend that cannot be used here (with the reason).
    """
    global _active
    if name not in _MODULES:
        raise ValueError(f"Unknown backend {name!r}; expected one of {sorted(_MODULES)}.")
    module, reason = _try_import(name)
    if module is None:
        raise ValueError(f"Backend {name!r} is not available: {reason}. "
                         f"Available: {[n for n, r in backends().items() if r == 'available']}.")
    _active = module


def get_backend() -> ModuleType:
    """The active backend module (chosen on first use when :func:`set_backend` was not called)."""
    global _active
    if _active is None:
        requested = os.environ.get("AXONAL_BACKEND")
        if requested:
            set_backend(requested)
        else:
            module, _ = _try_import("cpu")
            _active = module if module is not None else importlib.import_module(_MODULES["numpy"])
    return _active


def host_backend() -> ModuleType:
    """The backend for NumPy arrays: the active one, unless that is ``cuda`` (cupy arrays); then
    ``cpu``, or ``numpy`` where the native extension is missing. Layers and optimisers used on
    their own, and the per-step path of a model whose device cannot run it, compute with it."""
    active = get_backend()
    if active.__name__ != _MODULES["cuda"]:
        return active
    module, _ = _try_import("cpu")
    return module if module is not None else importlib.import_module(_MODULES["numpy"])


def backend_name(module: ModuleType | None = None) -> str:
    """The public name (``numpy``/``cpu``/``cuda``) of ``module``, or of the active backend."""
    module = module or get_backend()
    return {v: k for k, v in _MODULES.items()}[module.__name__]
