"""What this installation of axonal is built with and runs on: ``axonal.show_config()``."""
from __future__ import annotations

import platform
import sys

from axonal._version import __version__
from axonal.backend import backends

_FEATURES = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "amx_tile")


def cpu_features() -> list[str]:
    """The vector-instruction flags of this CPU that matter to the kernels (Linux; else empty)."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return []
    return [feature for feature in _FEATURES if feature in flags]


def config() -> dict[str, str]:
    """The facts :func:`show_config` prints, as a dict of strings."""
    facts = {"axonal": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
             "cpu features": " ".join(cpu_features()) or "unknown"}
    try:
        from axonal import _native
    except ImportError as error:
        facts["native extension"] = f"not available ({error})"
    else:
        facts["native extension"] = _native.__file__
        facts["compiler"] = _native.compiler
        facts["flags"] = _native.build_flags.strip()
        facts["BLAS"] = _native.blas_version()
        facts["GEMM"] = (f"{_native.get_gemm()} (own: axonal's AVX-512 kernels; blas: the library above; "
                         f"{_native.gemm_choice()}; AXONAL_GEMM=blas|own pins it)")
        facts["threads"] = f"{_native.get_num_threads()} (the kernels' OpenMP pool and the BLAS); {_thread_policy()}"
        facts["vector code"] = (f"{_native.get_isa()} (best on this CPU: {_native.best_isa()}; "
                                "AXONAL_ISA=portable|avx2|avx512 caps it)")
        facts["subnormals"] = "flushed to zero inside native kernels (FTZ/DAZ)"
    for name, status in backends().items():
        facts[f"backend {name}"] = status
    return facts


def _thread_policy() -> str:
    from axonal.models.executors import threads

    if threads.adaptive_enabled():
        return (f"adaptive up to {threads.default_threads()} in the training loop "
                "(axonal.set_num_threads(n), OMP_NUM_THREADS or AXONAL_ADAPTIVE_THREADS=0 fix it)")
    return "fixed"


def _native_module():
    from axonal import _native
    return _native


def set_num_threads(threads: int | None) -> None:
    """Fix the thread count of the kernels and the BLAS, or (``None``) let the training loop adapt it.

    By default the native training loop adapts its thread count to the load of the machine (one
    thread while another program keeps a core busy, every core when they are free; see
    :mod:`axonal.models.executors.threads`); results do not depend on the count. A fixed count
    turns that off, as ``OMP_NUM_THREADS`` in the environment does.

    Args:
        threads: a count from 1 to 4096, or None for the default, adaptive again: OpenMP's count at
            start-up, or a data-parallel rank's share of its host's cores.

    Example:
        >>> axonal.set_num_threads(1)      # doctest: +SKIP
        >>> axonal.set_num_threads(None)   # doctest: +SKIP
    """
    native = _native_module()
    if threads is None:
        from axonal.models.executors.threads import default_threads

        native.unpin_num_threads()
        native.adapt_num_threads(default_threads())  # a data-parallel rank's share, not every core
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 4096:
        raise ValueError(f"set_num_threads: threads must be an int from 1 to 4096, or None for the adaptive "
                         f"default; received {threads!r}. Pass e.g. axonal.set_num_threads(2).")
    native.set_num_threads(threads)


def get_num_threads() -> int:
    """The thread count of the kernels and the BLAS now (the adaptive loop's latest choice, or the
    fixed count).

    Example:
        >>> axonal.get_num_threads() >= 1   # doctest: +SKIP
        True
    """
    return _native_module().get_num_threads()


def show_config() -> None:
    """Print the version, compiler and flags, BLAS and its threads, CPU features and backends.

    Example:
        >>> axonal.show_config()  # doctest: +SKIP
        axonal            0.1.0
        BLAS              Intel MKL 2026.0.2 (static, GNU OpenMP threading, ...)
    """
    facts = config()
    width = max(map(len, facts))
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}")
