"""docs/keras-compatibility.md kept current: every ✓ name imports from axonal, every ✗ name is still absent."""
import importlib
import re
from pathlib import Path

import pytest

TABLE = Path(__file__).resolve().parents[1] / "docs" / "keras-compatibility.md"
ROW = re.compile(r"^\| `(keras[\w.]*)` \| (✓|✗) \| (?:`([\w.]+)`|—) \|")
ROWS = [match.groups() for line in TABLE.read_text().splitlines() if (match := ROW.match(line))]


def _resolve(path: str):
    """The object at a dotted path (a module, or an attribute of one), or None when it is absent."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                value = getattr(value, name)
        except AttributeError:
            return None
        return value
    return None


def test_the_table_has_rows_of_both_kinds():
    marks = [mark for _, mark, _ in ROWS]
    assert marks.count("✓") > 100 and marks.count("✗") > 20


@pytest.mark.parametrize("keras_name, axonal_name", [(k, a) for k, mark, a in ROWS if mark == "✓"])
def test_every_supported_name_imports(keras_name, axonal_name):
    assert axonal_name == "axonal" + keras_name[len("keras"):]  # only the import changes
    assert _resolve(axonal_name) is not None, f"{axonal_name} is marked ✓ but does not import"


@pytest.mark.parametrize("keras_name", [k for k, mark, _ in ROWS if mark == "✗"])
def test_every_missing_name_is_still_missing(keras_name):
    axonal_name = "axonal" + keras_name[len("keras"):]
    assert _resolve(axonal_name) is None, f"{axonal_name} exists now: mark it ✓ in docs/keras-compatibility.md"
