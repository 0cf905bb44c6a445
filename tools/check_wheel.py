"""Check a built wheel before it is shipped: no absolute build paths in its binaries, no code built
for the build machine's CPU (`-march=native`), the files a wheel of axonal must hold, and its size.

Usage: python tools/check_wheel.py wheelhouse/axonal-*.whl   (exit status 1 on a problem)
"""
from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ["axonal/__init__.py", "axonal/_version.py", "axonal/backend/cpu.py"]
# Paths of the machine that built the wheel: the checkout, temporary build prefixes, home folders.
BUILD_PATHS = [re.escape(str(ROOT)).encode(), rb"/tmp/pip-", rb"/tmp/build-env", rb"/home/[a-z]+/", rb"/root/"]


def problems_of(wheel: Path) -> list[str]:
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for required in REQUIRED:
            if required not in names:
                problems.append(f"{required} is missing")
        natives = [name for name in names if re.match(r"axonal/_native\..*\.so$", name)]
        if not natives:
            problems.append("no axonal/_native extension")
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
