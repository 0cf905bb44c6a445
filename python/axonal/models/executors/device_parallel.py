"""A device fit's share of a data-parallel epoch (:class:`~axonal.distribution.DataParallel` on
the ``cuda`` backend, one rank per GPU): which rows of each global batch this rank trains on, how
its running logs are weighed and reduced, and how long its runs of captured steps are.

Every rank holds all the rows and the same shuffle (rank 0's, broadcast by ``fit``). Global batch
``b`` of the order is cut into contiguous shards with
:func:`~axonal.distribution.sharding.shard_bounds`; this rank's shards, one after another, form its
*local order*, which the device gathers into each run's window exactly as a one-process fit
gathers whole batches (:mod:`~axonal.models.executors.device`). A step of the run is then a slice
of the window plus ``(first_row, global_rows)``: where the shard starts in its global batch (the
dropout masks are drawn there) and the global batch's size (the loss gradient is scaled by
``rows / global_rows``; :class:`~axonal.models.executors.device_copy.DeviceModel` queues the NCCL
sum of the gradients in the same step).
"""
from __future__ import annotations

import math

import numpy as np

from axonal.distribution.sharding import shard_bounds


class ShardPlan:
    """This rank's rows of one epoch of ``count`` rows in global batches of ``batch_size``.

    Args:
        distribution: the active :class:`~axonal.distribution.DataParallel`.
        order: the epoch's shared permutation of the rows, or None (in order).
        count: the number of rows (the same on every rank).
        batch_size: the global batch size.
    """

    def __init__(self, distribution, order: np.ndarray | None, count: int, batch_size: int):
        self.distribution, self.batch_size = distribution, batch_size
        size, rank = distribution.size, distribution.rank
        order = np.arange(count, dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
        pieces, self.starts, self.shards = [], [0], []
        for batch in range(math.ceil(count / batch_size)):
            global_rows = min(batch_size, count - batch * batch_size)
            first, end = shard_bounds(global_rows, size, rank)
            pieces.append(order[batch * batch_size + first:batch * batch_size + end])
            self.starts.append(self.starts[-1] + end - first)
            self.shards.append((first, global_rows))
        self.order = np.concatenate(pieces) if pieces else np.empty(0, np.int64)

    def run(self, first: int, steps: int) -> tuple[int, int, list]:
        """The local rows ``[start, stop)`` of batches ``first .. first + steps - 1`` and, per step,
        its slice of those rows and its ``(first_row, global_rows)``."""
        start, stop = self.starts[first], self.starts[first + steps]
        return start, stop, [(slice(self.starts[b] - start, self.starts[b + 1] - start), self.shards[b])
                             for b in range(first, first + steps)]

    def log_weights(self, last_rows: int) -> tuple[int, int, object]:
        """What :meth:`DeviceModel.logs` needs: this rank's rows in a full batch and in the last
        one (``last_rows`` global rows; 0 while not reached), and the sum over the ranks."""
        size, rank = self.distribution.size, self.distribution.rank
        full = shard_bounds(self.batch_size, size, rank)
        last = shard_bounds(last_rows, size, rank) if last_rows else (0, 0)
        communicator = self.distribution.communicator
        return (full[1] - full[0], last[1] - last[0],
                lambda values: communicator.allreduce(values, "sum", "the reduction of the training logs"))

    def agree_on_run_length(self, steps: int) -> int:
        """The steps per run every rank uses: the least of the ranks' (their slowest step's)."""
        everyone = self.distribution.communicator.allgather(np.array([steps], dtype=np.int64),
                                                            "the agreement on the run length")
        return int(everyone.min())

    def wait(self, device) -> None:
        """Wait for the run just queued (its NCCL collectives too), watching for other ranks' faults."""
        from axonal.distribution.nccl import wait

        wait(self.distribution, device, "a data-parallel run of steps")
