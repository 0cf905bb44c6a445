"""Whether this process was started by an MPI launcher, told from the environment alone.

``import axonal`` must never load MPI: a plain script, a notebook or the test suite would pay for
(and could be broken by) an MPI library they never use. So the launcher is recognised from the
variables it exports to each process, *before* mpi4py is imported, and mpi4py is imported only
when those say there is more than one process (or when ``AXONAL_DISTRIBUTED=1`` forces it).

Launchers and what they export (the size of the job):

=========================  ============================================
MPICH / Intel MPI (Hydra)  ``PMI_SIZE`` (and ``PMI_RANK``)
Open MPI (``mpirun``)      ``OMPI_COMM_WORLD_SIZE``
MVAPICH                    ``MV2_COMM_WORLD_SIZE``
Slurm ``srun --mpi=...``   ``PMI_SIZE`` or ``PMIX_RANK`` with ``SLURM_NTASKS``
=========================  ============================================
"""
from __future__ import annotations

import os

SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
FORCE_VARIABLE = "AXONAL_DISTRIBUTED"


def launched_size(environ=None) -> int:
    """The number of processes the launcher started (1 when none did)."""
    environ = os.environ if environ is None else environ
    for name in SIZE_VARIABLES:
        value = environ.get(name)
        if value is not None and value.strip().isdigit():
            return max(1, int(value))
    if "PMIX_RANK" in environ and environ.get("SLURM_NTASKS", "").strip().isdigit():
        return max(1, int(environ["SLURM_NTASKS"]))
    return 1


def launcher_variable(environ=None) -> str | None:
    """The variable that showed a launcher (for messages), or None."""
    environ = os.environ if environ is None else environ
    for name in (*SIZE_VARIABLES, "PMIX_RANK"):
        if name in environ:
            return f"{name}={environ[name]}"
    return None


def wants_mpi(environ=None) -> bool:
    """Whether MPI should be started: several processes were launched, or it is forced."""
    environ = os.environ if environ is None else environ
    forced = environ.get(FORCE_VARIABLE, "").strip().lower()
    if forced in ("0", "false", "no", "off"):
        return False
    return forced in ("1", "true", "yes", "on") or launched_size(environ) > 1


def import_mpi():
    """``mpi4py.MPI``, with a clear error naming the launcher when mpi4py is missing."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        shown = launcher_variable() or f"{FORCE_VARIABLE}={os.environ.get(FORCE_VARIABLE)}"
        raise ImportError(
            f"axonal.distribution: this process was started by an MPI launcher ({shown}) but mpi4py "
            f"cannot be imported ({error}). Fix: pip install 'axonal[mpi]' (mpi4py with the mpich "
            "wheel; any site MPI works with a matching mpi4py), or run the script without mpiexec."
        ) from error
    return MPI
