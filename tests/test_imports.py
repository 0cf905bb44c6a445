"""No import cycles among the package's modules: each module's top-level imports (those that run
when it is imported, not the ones inside functions) form a graph without cycles, so any module
of ``axonal.models`` or ``axonal.backend`` imports on its own, in any order."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "axonal"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The axonal modules ``path`` imports at its top level (a ``from x import y`` counts as x.y
    when that is a module, else x)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    paths = [p for p in PACKAGE.rglob("*.py")]
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) - {_module_name(p)} for p in paths}


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, or None. A package's __init__ importing its
    own submodules is not a cycle (the submodule's ``from package import x`` finds it loaded)."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for target in graph.get(module, ()):
            if target == start and not start.startswith(target + ".") and not target.startswith(start + "."):
                return path + [target]
            if target not in seen and not module.startswith(target + "."):
                seen.add(target)
                stack.append((target, path + [target]))
    return None


@pytest.mark.parametrize("package", ["axonal.models", "axonal.backend"])
def test_no_import_cycles(package):
    graph = _graph()
    cycles = [cycle for name in sorted(graph) if name.startswith(package)
              if (cycle := _cycle_through(graph, name)) is not None]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(name for name in _graph() if name.startswith(("axonal.models.",
                                                                                         "axonal.backend."))
                                          and not name.endswith(".cuda")))
def test_each_module_imports_first(module):
    """Imported first, in a fresh interpreter, each module loads (no hidden order dependency)."""
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
