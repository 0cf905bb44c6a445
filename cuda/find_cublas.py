"""Print where cuBLAS's header and library are, for cuda/CMakeLists.txt: "INCLUDE_DIR;LIBRARY;RPATH".

cuBLAS comes from the `nvidia-cublas` wheel (CUDA 13: files under site-packages/nvidia/cu13/), found
through the installed distribution like cmake/find_mkl.py finds MKL, or from a folder named by
$AXONAL_CUBLAS_ROOT (a CUDA toolkit or any prefix with include/cublas_v2.h and lib64/ or lib/).
RPATH is where the extension looks for the library at run time: relative to the installed
axonal/ package for the wheel (the two sit side by side in site-packages), absolute otherwise. The
axonal-cuda13 wheel takes the wheel route (nvidia-cublas is a build requirement of
packaging/cuda13), so its run path is $ORIGIN/../nvidia/cu13/lib wherever it is installed;
tools/check_wheel.py refuses any other.
"""
import importlib.metadata
import os
import sys
from pathlib import Path


def from_root(root: Path):
    """(include dir, library file) under a toolkit-like prefix, or None."""
    for lib in ("lib64", "lib", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib"):
        for name in ("libcublas.so", "libcublas.so.13", "libcublas.so.12"):
            library = root / lib / name
            if (root / "include" / "cublas_v2.h").exists() and library.exists():
                return root / "include", library
    return None


def from_wheel():
    """(include dir, library file, site-packages) of the installed nvidia-cublas wheel, or None."""
    for distribution in ("nvidia-cublas", "nvidia-cublas-cu13", "nvidia-cublas-cu12"):
        try:
            files = importlib.metadata.files(distribution) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        header = next((f for f in files if f.name == "cublas_v2.h"), None)
        library = next((f for f in files if f.name.startswith("libcublas.so")), None)
        if header and library:
            site = Path(importlib.metadata.distribution(distribution).locate_file("")).resolve()
            return header.locate().resolve().parent, library.locate().resolve(), site
    return None


def main() -> None:
    root = os.environ.get("AXONAL_CUBLAS_ROOT")
    if root:
        found = from_root(Path(root))
        if not found:
            sys.exit(f"AXONAL_CUBLAS_ROOT={root} holds no include/cublas_v2.h with lib64/libcublas.so*")
        include, library = found
        print(f"{include};{library};{library.parent}", end="")
        return
    found = from_wheel()
    if not found:
        sys.exit("cuBLAS not found: pip install nvidia-cublas into the Python that builds axonal "
                 "(with --no-build-isolation), or set AXONAL_CUBLAS_ROOT to a CUDA toolkit.")
    include, library, site = found
    print(f"{include};{library};$ORIGIN/../{library.parent.relative_to(site)}", end="")


main()
