"""The adaptive thread count of the native loop: steady speed when other programs share the cores.

OpenMP's thread team assumes it owns its cores. When another busy process takes one, every barrier
waits for the thread that lost its core, and a two-thread step can become ten times slower than a
one-thread step (docs/performance.md, "Steady when the machine is shared"). The native executor
runs its batches in runs of about 50 ms (``native_plan.SECONDS_PER_RUN``); a :class:`ThreadGovernor`
times each run (rows per second of wall time) at the thread count it used, now and then runs one
run at a neighbouring count (a *probe*), and keeps whichever count was faster:

* the first probe comes after :attr:`ThreadGovernor.first_probe_runs` runs (two trainings started
  together find out within a fraction of a second), then every ``probe_seconds`` of runs; a probe
  that loses doubles the interval up to ``max_probe_seconds`` (a probe costs a quiet machine one
  run at a slower count), a switch resets it;
* a run much slower than the current count's recent runs (a neighbour just started) is confirmed by
  the next run, then probed at once, without waiting for the interval;
* a probe must beat the current count by ``margin`` to win, so noise does not flip the count.

Results do not depend on the count (every kernel, the own GEMM, and MKL in its strict CNR mode give
the same bits on any thread count: ``tests/test_thread_governor.py``), so adapting keeps training
reproducible.

Off, with a fixed count, when the user pins it: ``axonal.set_num_threads(n)``, ``OMP_NUM_THREADS``
in the environment, or ``AXONAL_ADAPTIVE_THREADS=0``. Under a data-parallel job with several ranks
on one host, the counts top out at the rank's share of the host's cores (:func:`share_cores`). Validation and ``evaluate`` after a ``fit``
follow the training runs' count; ``predict`` and ``evaluate`` without a ``fit`` adapt on their own.

Example (what the native executor does around each run)::

    governor = threads.governor_for(model, "train")
    governor.begin()                       # sets the count of this run
    done, rows, *rest = loop.run(...)
    governor.end(rows)                     # times it; may plan a probe for a later run
"""
from __future__ import annotations

import os
import statistics
import time
from collections import deque
from typing import Callable

ENVIRONMENT_SWITCH = "AXONAL_ADAPTIVE_THREADS"


def ladder(max_threads: int) -> list[int]:
    """The counts a governor chooses among, ascending: ``max_threads`` halved down to 1.

    Example:
        >>> ladder(2), ladder(12)
        ([1, 2], [1, 3, 6, 12])
    """
    if max_threads < 1:
        raise ValueError(f"ladder: max_threads must be at least 1; received {max_threads}.")
    counts, count = [], max_threads
    while count >= 1:
        counts.append(count)
        count //= 2
    return sorted(set(counts))


class ThreadGovernor:
    """Chooses the thread count of each run from measured throughput.

    Args:
        max_threads: the largest count (the default: OpenMP's count at load).
        apply: called with the count before a run (the executor: ``_native.adapt_num_threads``).
        clock: seconds, monotonic (``time.perf_counter``; tests pass a fake one).

    :meth:`choose` and :meth:`record` hold the decisions and take no time themselves;
    :meth:`begin` and :meth:`end` wrap them around one run with the clock and ``apply``.
    """

    first_probe_runs = 2        # runs at the starting count before the first probe
    probe_seconds = 1.0         # seconds of runs at the current count between probes
    max_probe_seconds = 4.0     # the interval doubles up to this after each losing probe
    margin = 0.10               # a probe must be this much faster (share of rows/s) to win
    drop = 0.6                  # a run below this share of the recent rate is suspect
    min_run_seconds = 0.005     # shorter runs (an epoch's last batches) are too noisy to time

    def __init__(self, max_threads: int, apply: Callable[[int], None], clock: Callable[[], float] = time.perf_counter):
        self.counts = ladder(max_threads)
        self.current = self.counts[-1]
        self.apply, self.clock = apply, clock
        self.recent: deque[float] = deque(maxlen=3)  # rows/s of the last runs at the current count
        self.interval = self.probe_seconds
        self.since_probe = 0.0      # seconds of runs at the current count since the last probe
        self.runs = 0               # timed runs at the current count since the start or a switch
        self.probe_now = False      # a confirmed drop: probe at the next run
        self.probed = False         # whether the first probe was made
        self.suspect: float | None = None  # rows/s of a slow run awaiting confirmation
        self.probing: int | None = None    # the count the next run tries
        self.upward = False         # which neighbour the next probe tries when there are two
        self.switches: list[tuple[int, int]] = []  # (from, to), for tests and diagnostics
        self._run: tuple[int, float] | None = None

    @property
    def rate(self) -> float | None:
        """Rows per second at the current count (median of its recent runs), or None."""
        return statistics.median(self.recent) if self.recent else None

    def _neighbour(self) -> int | None:
        index = self.counts.index(self.current)
        below = self.counts[index - 1] if index > 0 else None
        above = self.counts[index + 1] if index + 1 < len(self.counts) else None
        if below is not None and above is not None:
            self.upward = not self.upward
            return above if self.upward else below
        return below if below is not None else above

    def choose(self) -> int:
        """The count of the next run: the current one, or a neighbour when a probe is due."""
        if len(self.counts) == 1 or self.suspect is not None or self.rate is None:
            due = False  # nothing to choose from, a slow run awaits confirmation, or nothing measured yet
        elif self.probe_now:
            due = True
        elif not self.probed:
            due = self.runs >= self.first_probe_runs
        else:
            due = self.since_probe >= self.interval
        self.probing = self._neighbour() if due else None
        return self.probing if self.probing is not None else self.current

    def record(self, threads: int, rows: int, seconds: float) -> None:
        """Take one run's measurement: ``rows`` done in ``seconds`` on ``threads`` threads."""
        probing, self.probing = self.probing, None
        if seconds < self.min_run_seconds or rows <= 0:
            return  # too short to judge: nothing learnt (a probe cut short is simply retried)
        rate = rows / seconds
        if probing is not None and threads == probing:
            self.probe_now, self.since_probe, self.probed = False, 0.0, True
            if self.rate is None or rate > self.rate * (1 + self.margin):
                self.switches.append((self.current, threads))
                self.current, self.runs, self.interval = threads, 1, self.probe_seconds
                self.recent.clear()
                self.recent.append(rate)
            else:
                self.interval = min(2 * self.interval, self.max_probe_seconds)
            return
        if threads != self.current:
            return  # a count set from outside between choose() and the run: not ours to judge
        self.runs += 1
        self.since_probe += seconds
        reference = self.rate
        if self.suspect is not None:
            if rate < self.drop * reference:  # slow twice: the machine changed; probe at once
                self.recent.clear()
                self.recent.extend((self.suspect, rate))
                self.probe_now, self.interval = True, self.probe_seconds
            else:
                self.recent.append(rate)  # a one-off hiccup: forget it
            self.suspect = None
        elif reference is not None and rate < self.drop * reference:
            self.suspect = rate
        else:
            self.recent.append(rate)

    def begin(self) -> int:
        """Before a run: choose its count, apply it, start the clock. Returns the count."""
        threads = self.choose()
        self.apply(threads)
        self._run = (threads, self.clock())
        return threads

    def end(self, rows: int) -> None:
        """After the run begun by :meth:`begin`: time it and record ``rows``."""
        if self._run is None:
            raise RuntimeError("ThreadGovernor.end: no run was begun; call begin() before each run.")
        (threads, start), self._run = self._run, None
        self.record(threads, rows, self.clock() - start)


class Follower:
    """Runs at another governor's current count without measuring (validation inside a fit)."""

    def __init__(self, leader: ThreadGovernor):
        self.leader = leader

    def begin(self) -> int:
        self.leader.apply(self.leader.current)
        return self.leader.current

    def end(self, rows: int) -> None:
        pass


class Fixed:
    """The pinned count: runs change nothing."""

    def begin(self) -> int:
        return 0

    def end(self, rows: int) -> None:
        pass


FIXED = Fixed()


_share: int | None = None  # a data-parallel job's share of its host's cores (share_cores)


def share_cores(threads: int) -> None:
    """Make ``threads`` the default count of this process (and the governors' ceiling): a
    :class:`~axonal.distribution.DataParallel` with several ranks on one host gives each its share
    of the cores, as ``torchrun`` does, instead of every rank starting a team for all of them. A
    pinned count (``set_num_threads``, ``OMP_NUM_THREADS``) is left alone."""
    global _share
    from axonal import _native

    _share = max(1, int(threads))
    if not _native.threads_pinned():
        _native.adapt_num_threads(default_threads())


def default_threads() -> int:
    """The count a run starts from: OpenMP's count at load, or this process's share of the cores."""
    from axonal import _native

    return _native.default_num_threads() if _share is None else min(_share, _native.default_num_threads())


def adaptive_enabled() -> bool:
    """Whether the native loop adapts its thread count: not when the user pinned it
    (``axonal.set_num_threads``, ``OMP_NUM_THREADS``) or set ``AXONAL_ADAPTIVE_THREADS=0``."""
    from axonal import _native

    if os.environ.get(ENVIRONMENT_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return not _native.threads_pinned() and _native.default_num_threads() > 1


def governor_for(model, mode: str):
    """The model's governor for ``mode`` ("train", "test" or "predict"), made on first use.

    Test and predict runs follow the training governor's count once the model has trained here;
    before that they keep a governor of their own. A pinned count gives :data:`FIXED`.
    """
    if not adaptive_enabled():
        return FIXED
    governors = model.__dict__.setdefault("_thread_governors", {})
    if mode != "train" and "train" in governors:
        return Follower(governors["train"])
    if mode not in governors:
        from axonal import _native
        governors[mode] = ThreadGovernor(default_threads(), _native.adapt_num_threads)
    return governors[mode]
