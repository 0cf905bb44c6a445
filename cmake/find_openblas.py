"""Print the include and library folders of the scipy-openblas32 wheel, for CMake (the BLAS of
builds without MKL, e.g. aarch64; a build requirement there, and a runtime dependency)."""
import scipy_openblas32

print(scipy_openblas32.get_include_dir() + ";" + scipy_openblas32.get_lib_dir(), end="")
