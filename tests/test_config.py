"""axonal.show_config() and ``python -m axonal``: what a bug report needs, from one source."""
import subprocess
import sys

import axonal
from axonal.config import config


def test_show_config_names_version_blas_threads_and_backends(capsys):
    axonal.show_config()
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["axonal", axonal.__version__]
    for key in ("python", "cpu features", "backend numpy", "backend cpu", "backend cuda"):
        assert key in out
    if config()["backend cpu"] == "available":
        assert ("Intel MKL" in out or "OpenBLAS" in out) and "threads" in out and "compiler" in out
        assert config()["GEMM"].split()[0] in ("own", "blas")


def test_python_dash_m_axonal_version():
    done = subprocess.run([sys.executable, "-m", "axonal", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"axonal {axonal.__version__}"
