"""The demo (`python -m axonal.demo`): the fallback that makes it work anywhere, its output and figure."""
import os
import re

import pytest

import axonal
from axonal import demo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def no_dataset(monkeypatch, tmp_path):
    """No data folder, an empty cache and no downloads: the situation of a fresh offline machine."""
    monkeypatch.delenv("AXONAL_DATA", raising=False)
    monkeypatch.setenv("AXONAL_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AXONAL_OFFLINE", "1")


def test_demo_falls_back_to_sklearn_digits_and_writes_the_figure(no_dataset, tmp_path, capsys):
    pytest.importorskip("sklearn", reason="the offline fallback needs scikit-learn")
    figure = tmp_path / "demo.png"
    accuracy = demo.main(["--epochs", "3", "--out", str(figure)])
    out = capsys.readouterr().out
    assert "using scikit-learn's 8x8 digits instead" in out
    assert "Total params: 301,066" in out  # 64-512-512-10
    assert re.search(r"Seconds per epoch: \d+\.\d\d", out)
    assert f"Test accuracy: {accuracy:.4f}" in out
    assert accuracy > 0.85  # three epochs on 1,437 digits reach about 0.9
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "no figure written" in out
    else:
        assert figure.read_bytes()[:8] == PNG_SIGNATURE


def test_demo_runs_on_the_reference_backend(no_dataset, capsys):
    pytest.importorskip("sklearn", reason="the offline fallback needs scikit-learn")
    previous = axonal.backend.backend_name()
    try:
        demo.main(["--epochs", "1", "--backend", "numpy", "--out", ""])  # the CLI sets it for the process
    finally:
        axonal.set_backend(previous)
    assert "backend 'numpy'" in capsys.readouterr().out


@pytest.mark.skipif(not os.environ.get("AXONAL_DATA"), reason="AXONAL_DATA is not set: no real Fashion-MNIST")
def test_demo_trains_on_real_fashion_mnist(capsys):
    accuracy = demo.main(["--dataset", "fashion-mnist", "--epochs", "1", "--out", ""])
    out = capsys.readouterr().out
    assert "Training on fashion-mnist: 60000 training and 10000 test images" in out
    assert accuracy > 0.80  # one epoch of the seed MLP gives about 0.84


def test_unknown_dataset_is_rejected(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--dataset", "cifar10"])
    assert "invalid choice: 'cifar10'" in capsys.readouterr().err


def test_demo_writes_its_figure_inside_a_folder_given_as_out(no_dataset, tmp_path, capsys):
    pytest.importorskip("sklearn", reason="the offline fallback needs scikit-learn")
    pytest.importorskip("matplotlib")
    demo.main(["--epochs", "1", "--out", str(tmp_path)])
    assert (tmp_path / "axonal-demo.png").read_bytes()[:8] == PNG_SIGNATURE
    assert f"Figure written to {tmp_path / 'axonal-demo.png'}" in capsys.readouterr().out


@pytest.mark.parametrize("out, message", [
    ("figure.jpg", r"--out 'figure.jpg': the figure is a PNG; give a path ending in .png \(e.g. --out figure.png\), "
                   r"a folder to write axonal-demo.png in, or '' for no figure"),
    ("missing/figure.png", r"--out 'missing/figure.png': the folder '.*missing' does not exist"),
    ("missing/", r"--out 'missing/': no such folder"),
])
def test_demo_says_what_out_wants_before_training(tmp_path, monkeypatch, capsys, out, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as raised:
        demo.main(["--epochs", "1", "--out", out])
    assert raised.value.code == 2
    error = capsys.readouterr()
    assert re.search(message, error.err) and "Training on" not in error.out
