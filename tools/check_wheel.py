"""Check a built wheel before it is shipped: no absolute build paths in its binaries, no code built
for the build machine's CPU (`-march=native`), the files a wheel of axonal must hold, its version
(that of python/axonal/_version.py), and its size.

Two kinds of wheel, told apart by name:
- the CPU wheel (axonal-*.whl): the package with axonal._native, and no axonal._cuda;
- the CUDA wheel (axonal_cuda13-*.whl): only axonal/_cuda*.so, which needs cuBLAS through the run
  path $ORIGIN/../nvidia/cu13/lib (the nvidia-cublas wheel beside axonal in site-packages) and
  nothing else outside the C/C++ runtime; pinned to the CPU wheel of its own version. Reading its
  ELF header needs pyelftools (installed with auditwheel).

Usage: python tools/check_wheel.py wheelhouse/axonal-*.whl wheelhouse/axonal_cuda13-*.whl
(exit status 1 on a problem)
"""
from __future__ import annotations

import email.parser
import io
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = re.search(r'__version__ = "(.+)"', (ROOT / "python/axonal/_version.py").read_text()).group(1)
REQUIRED = ["axonal/__init__.py", "axonal/_version.py", "axonal/backend/cpu.py"]
# Paths of the machine that built the wheel: the checkout, temporary build prefixes, home folders.
BUILD_PATHS = [re.escape(str(ROOT)).encode(), rb"/tmp/pip-", rb"/tmp/build-env", rb"/home/[a-z]+/", rb"/root/"]

CUDA_RUNPATH = "$ORIGIN/../nvidia/cu13/lib"
# What axonal._cuda may link: cuBLAS (from nvidia-cublas, through CUDA_RUNPATH) and the C/C++ runtime
# every manylinux system has. Not libcudart (linked statically, so no runtime wheel version has to
# match nvcc's) nor libcuda.so.1 (the driver, opened at run time so that a machine without one still
# imports and can say why).
CUDA_NEEDED = {"libcublas.so.13"}
SYSTEM_LIBRARIES = {"libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6", "libdl.so.2", "libpthread.so.0",
                    "librt.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
CUDA_REQUIRES = [f"axonal=={VERSION}", "nvidia-cublas", "nvidia-cuda-runtime", "nvidia-cuda-nvrtc", "cupy-cuda13x"]


def metadata_problems(archive: zipfile.ZipFile, required: list[str]) -> list[str]:
    """The version must be VERSION; each of ``required`` (a name, or an exact pin) must start a Requires-Dist."""
    name = next(n for n in archive.namelist() if re.match(r"[^/]+\.dist-info/METADATA$", n))
    metadata = email.parser.Parser().parsestr(archive.read(name).decode())
    requires = metadata.get_all("Requires-Dist") or []
    problems = [] if metadata["Version"] == VERSION else [f"version {metadata['Version']}, not {VERSION}"]
    for requirement in required:
        if not any(re.match(re.escape(requirement) + r"($|[^\w.-])", line.replace(" ", "")) for line in requires):
            problems.append(f"does not require {requirement} (Requires-Dist: {requires})")
    return problems


def elf_problems(name: str, data: bytes) -> list[str]:
    """axonal._cuda's dynamic section: the libraries it needs and where it looks for cuBLAS."""
    from elftools.elf.elffile import ELFFile

    needed, paths = set(), []
    for tag in ELFFile(io.BytesIO(data)).get_section_by_name(".dynamic").iter_tags():
        if tag.entry.d_tag == "DT_NEEDED":
            needed.add(tag.needed)
        elif tag.entry.d_tag in ("DT_RPATH", "DT_RUNPATH"):
            paths += (tag.runpath if tag.entry.d_tag == "DT_RUNPATH" else tag.rpath).split(":")
    problems = [f"{name} does not need {library}" for library in sorted(CUDA_NEEDED - needed)]
    problems += [f"{name} needs {library}, which is neither cuBLAS nor the C/C++ runtime"
                 for library in sorted(needed - CUDA_NEEDED - SYSTEM_LIBRARIES)]
    if paths != [CUDA_RUNPATH]:
        problems.append(f"{name} has run path {paths}, expected [{CUDA_RUNPATH!r}] (the nvidia-cublas wheel)")
    return problems


def problems_of(wheel: Path) -> list[str]:
    cuda = wheel.name.startswith("axonal_cuda13-")
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        if cuda:
            problems += metadata_problems(archive, CUDA_REQUIRES)
            if not any(re.match(r"axonal/_cuda\..*\.so$", name) for name in names):
                problems.append("no axonal/_cuda extension")
            # Only the extension: no Python file of the CPU wheel, no library grafted by auditwheel.
            problems += [f"holds {name}: the CUDA wheel must hold only axonal/_cuda" for name in names
                         if not re.match(r"(axonal/(_cuda\..*\.so)?|axonal_cuda13-[^/]+\.dist-info/.*)$", name)]
        else:
            problems += metadata_problems(archive, ["numpy"])
            problems += [f"{required} is missing" for required in REQUIRED if required not in names]
            if not any(re.match(r"axonal/_native\..*\.so$", name) for name in names):
                problems.append("no axonal/_native extension")
            problems += [f"holds {name}: CUDA code belongs in the axonal-cuda13 wheel" for name in names
                         if re.search(r"_cuda\.|libcu(blas|da|dart)", name)]
        for name in names:
            if not name.endswith(".so") and ".so." not in name:
                continue
            data = archive.read(name)
            for pattern in BUILD_PATHS:
                found = re.search(pattern + rb"[^\0]{0,60}", data)
                if found:
                    problems.append(f"{name} holds a build path: {found.group(0)[:100]!r}")
            if b"march=native" in data:
                problems.append(f"{name} was built with -march=native")
            if cuda and re.match(r"axonal/_cuda\.", name):
                problems += elf_problems(name, data)
    return problems


def main() -> int:
    status = 0
    for argument in sys.argv[1:]:
        wheel = Path(argument)
        problems = problems_of(wheel)
        print(f"{wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB, "
              f"{'OK' if not problems else str(len(problems)) + ' problem(s)'}")
        for problem in problems:
            print(f"  - {problem}")
        status |= bool(problems)
    return status


if __name__ == "__main__":
    sys.exit(main())
