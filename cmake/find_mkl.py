"""Print the include and library folders of the mkl-include and mkl-static wheels, for CMake.

pip installs them (as build requirements) into an isolated prefix whose path we cannot know in
advance, so we ask the installed distributions where their files went.
"""
import importlib.metadata
import sys


def folder_of(distribution: str, file_name: str) -> str:
    for path in importlib.metadata.files(distribution) or []:
        if path.name == file_name:
            return str(path.locate().resolve().parent)
    sys.exit(f"{distribution} is installed but holds no {file_name}")


print(folder_of("mkl-include", "mkl.h") + ";" + folder_of("mkl-static", "libmkl_core.a"), end="")
