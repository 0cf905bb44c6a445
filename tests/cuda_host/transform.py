"""Copy axonal's cuda/ sources for the host emulation, rewriting each kernel launch.

``kernel<<<grid, block, shared, stream>>>(args)`` becomes
``::axonal_emu::launcher("kernel", [&](auto&&... a) { kernel(a...); }, grid, block, shared, stream)(args)``:
the same expression for a C++ compiler, run by cuda_host.h's scheduler. Everything else is copied
unchanged; ``.cu`` files are written as ``.cu.cpp`` so that the host compiler takes them.

Usage: python transform.py SOURCE_DIR OUT_DIR
"""
import pathlib
import re
import sys

LAUNCH = re.compile(r"\b([A-Za-z_]\w*)\s*<<<(.*?)>>>\s*\(", re.DOTALL)


def rewrite(text: str) -> str:
    return LAUNCH.sub(lambda m: (f'::axonal_emu::launcher("{m[1]}", [&](auto&&... axonal_emu_args) '
                                 f'{{ {m[1]}(axonal_emu_args...); }}, {m[2]})('), text)


def main(source: str, out: str) -> None:
    source_dir, out_dir = pathlib.Path(source), pathlib.Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(source_dir.iterdir()):
        if path.suffix not in (".cu", ".cuh", ".cpp", ".h"):
            continue
        text = rewrite(path.read_text())
        if "<<<" in text:
            raise SystemExit(f"{path}: a launch transform.py did not understand")
        name = path.name + ".cpp" if path.suffix == ".cu" else path.name
        target = out_dir / name
        if not target.exists() or target.read_text() != text:  # unchanged files keep their timestamps
            target.write_text(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
