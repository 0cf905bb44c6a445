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
                         "AXONAL_GEMM=blas|own chooses)")
        facts["threads"] = f"{_native.get_num_threads()} (the kernels' OpenMP pool and the BLAS)"
        facts["vector code"] = (f"{_native.get_isa()} (best on this CPU: {_native.best_isa()}; "
                                "AXONAL_ISA=portable|avx2|avx512 caps it)")
        facts["subnormals"] = "flushed to zero inside native kernels (FTZ/DAZ)"
    for name, status in backends().items():
        facts[f"backend {name}"] = status
    return facts


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
