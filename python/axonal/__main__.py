"""``python -m axonal``: print the build configuration; ``--version`` prints the version only."""
import argparse

from axonal._version import __version__
from axonal.config import show_config

parser = argparse.ArgumentParser(prog="python -m axonal", description=__doc__)
parser.add_argument("--version", action="version", version=f"axonal {__version__}")
parser.parse_args()
show_config()
