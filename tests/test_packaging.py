"""The two wheels' descriptions agree with each other and with tools/check_wheel.py (docs/install.md).

The wheels themselves are built, repaired and checked by CI (.ci/run); these checks catch a drift
in the files that describe them without building anything.
"""
from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parent.parent
CUDA_PROJECT = ROOT / "packaging" / "cuda13"


def _check_wheel():
    spec = importlib.util.spec_from_file_location("check_wheel", ROOT / "tools" / "check_wheel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cuda_wheel_builds_only_the_cuda_project_at_axonals_version():
    project = tomllib.loads((CUDA_PROJECT / "pyproject.toml").read_text())
    skbuild = project["tool"]["scikit-build"]
    assert (CUDA_PROJECT / skbuild["cmake"]["source-dir"]).resolve() == ROOT / "cuda"
    assert skbuild["wheel"]["packages"] == []
    version = skbuild["metadata"]["version"]
    assert (CUDA_PROJECT / version["input"]).resolve() == ROOT / "python" / "axonal" / "_version.py"
    requires = skbuild["metadata"]["dependencies"]["result"]
    assert "axonal=={project[version]}" in requires
    names = {requirement.split(">")[0].split("=")[0] for requirement in requires}
    assert {"nvidia-cublas", "cupy-cuda13x"} <= names
    assert (CUDA_PROJECT / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


def test_the_cpu_wheel_names_the_cuda_wheel_as_an_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["cuda13"] == ["axonal-cuda13"]


def test_check_wheel_refuses_a_cuda_wheel_with_more_than_the_extension(tmp_path):
    check_wheel = _check_wheel()
    wheel = tmp_path / f"axonal_cuda13-{check_wheel.VERSION}-cp311-cp311-linux_x86_64.whl"
    metadata = f"Metadata-Version: 2.4\nName: axonal-cuda13\nVersion: {check_wheel.VERSION}\nRequires-Dist: axonal>=0\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"axonal_cuda13-{check_wheel.VERSION}.dist-info/METADATA", metadata)
        archive.writestr("axonal/__init__.py", "")
    problems = "\n".join(check_wheel.problems_of(wheel))
    assert f"does not require axonal=={check_wheel.VERSION}" in problems
    assert "does not require cupy-cuda13x" in problems
    assert "no axonal/_cuda extension" in problems
    assert "holds axonal/__init__.py" in problems
