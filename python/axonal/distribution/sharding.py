"""How a global batch is split among the ranks, and what a rank's shard is.

A global batch of ``n`` rows is cut into ``size`` contiguous shards whose lengths differ by at
most one, the longer ones first (rank r gets ``n // size + (r < n % size)`` rows): no padding, no
duplicated row, and a rank whose shard is empty (``n < size``, a tiny last batch) still takes part
in every collective with zero rows. The loss of each shard is scaled by ``rows / n`` so that the
*sum* of the ranks' gradients is exactly the gradient of the global batch's mean loss.
"""
from __future__ import annotations


def shard_bounds(rows: int, size: int, rank: int) -> tuple[int, int]:
    """``(first, end)``: the rows of ``rows`` that rank ``rank`` of ``size`` takes.

    Example:
        >>> [shard_bounds(5, 3, r) for r in range(3)]
        [(0, 2), (2, 4), (4, 5)]
    """
    base, extra = divmod(rows, size)
    first = rank * base + min(rank, extra)
    return first, first + base + (1 if rank < extra else 0)


def shard_sizes(rows: int, size: int) -> list[int]:
    """Every rank's share of ``rows`` rows, in rank order."""
    return [end - first for first, end in (shard_bounds(rows, size, r) for r in range(size))]
