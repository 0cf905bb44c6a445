"""The native reducer (cpp/collectives.h) under mpiexec, driven by tests/test_distribution_mpi.py:
sums through MPI_Iallreduce, the deterministic allgather or the shared-memory window (its growth
and many steps), the losses' rank-order sum, and a fault posted by one rank ending another's
native wait with that rank's message.

Usage: python reducer_worker.py sums|deterministic|fault|timeout|room mpi|shared
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np


def main(case: str, path: str) -> None:
    import axonal
    from axonal.distribution import DataParallel, DistributedError
    from axonal.distribution.native import collective_errors, make_reducer

    dp = DataParallel(deterministic=case == "deterministic", timeout=3 if case == "timeout" else None,
                      shared_memory=path == "shared")
    rank, size, communicator = dp.rank, dp.size, dp.communicator
    reducer = make_reducer(dp)
    if case in ("sums", "deterministic"):
        for step, count in enumerate([1000, 1000, 5000, 7, 5000, 40_000, 3]):  # the window grows twice
            base = np.arange(count, dtype=np.float32) * 0.001 + 1 + step
            parts = [base * (r + 1) for r in range(size)]
            expected = parts[0].copy()
            for part in parts[1:]:  # rank order, as the shared window and the deterministic mode sum
                expected += part
            summed = reducer.allreduce(parts[rank])
            if path == "shared" or case == "deterministic":
                np.testing.assert_array_equal(summed, expected)
            else:
                np.testing.assert_allclose(summed, expected, rtol=1e-6)
        assert reducer.sum_doubles([0.5, float(rank)]) == [0.5 * size, float(sum(range(size)))]
        print(f"rank {rank} sums ok")
        return
    if case == "room":  # run with a small /dev/shm: a 32 MiB window does not fit
        try:
            with collective_errors(communicator, "a test reduction"):
                reducer.allreduce(np.ones(12 << 20, np.float32))
        except DistributedError as error:
            print(f"rank {rank} caught: {error}")
        return
    reducer.allreduce(np.ones(10, np.float32))  # together once: the shared window exists before the fault
    if case == "fault":
        if rank == 1:
            communicator.notify_failure(ValueError("bad input on rank one"))
            time.sleep(2)
            print("rank 1 notified")
            communicator.failed = False
            sys.stdout.flush()
            # Out without MPI_Finalize, as rank 0 leaves: a finalize that waits for a rank gone with
            # os._exit hung this case once in CI (session 12), past the test's 120 s.
            os._exit(0)
        try:
            with collective_errors(communicator, "a test reduction"):
                reducer.allreduce(np.ones(10, np.float32))
        except DistributedError as error:
            print(f"caught: {error}")
            communicator.failed = False
            axonal.distribution.initialize().failed = False
            sys.stdout.flush()
            os._exit(0)
    if case == "timeout":
        if rank == 1:
            time.sleep(6)
            import os
            os._exit(0)
        try:
            with collective_errors(communicator, "a test reduction"):
                reducer.allreduce(np.ones(10, np.float32))
        except DistributedError as error:
            print(f"caught: {error}")
            sys.stdout.flush()
            import os
            os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
