"""Runs one fuzz input against one parser and classifies what happened.

A :class:`Target` names a parser entry point, the hypothesis strategy of its inputs (a
:class:`FuzzInput`: files to write and call options) and the exceptions its documentation allows.
:func:`run_one` writes the files into a scratch folder, calls the parser and returns the outcome
(``"ok"`` or the allowed exception's class name); anything else — an exception outside the allowed
list, a result that breaks the parser's promises, too much time or memory — raises
:class:`FuzzFailure` carrying the input, so a test fails with it and the campaign script saves it.
"""
from __future__ import annotations

import shutil
import time
import tracemalloc
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hypothesis.strategies import SearchStrategy


@dataclass(frozen=True)
class FuzzInput:
    """Files to write (name -> bytes, names relative to the scratch folder) and call options."""

    files: dict[str, bytes]
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        sizes = ", ".join(f"{name} ({len(data)} B)" for name, data in self.files.items())
        return f"files: {sizes}; options: {self.options}"


@dataclass(frozen=True)
class Target:
    """A parser under fuzzing.

    Args:
        name: short label used in reports (``idx``, ``load_model``...).
        inputs: strategy producing :class:`FuzzInput` values.
        call: ``call(folder, options)`` runs the parser on the files written in ``folder``.
        allowed: the exception classes the parser documents; anything else is a failure.
        check: optional ``check(result)`` that asserts the promises made about a successful result.
    """

    name: str
    inputs: SearchStrategy
    call: Callable[[Path, dict], Any]
    allowed: tuple[type[BaseException], ...]
    check: Callable[[Any], None] | None = None


class FuzzFailure(AssertionError):
    """A parser broke its contract on ``fuzz_input`` (the message says how)."""

    def __init__(self, target: Target, fuzz_input: FuzzInput, problem: str):
        super().__init__(f"{target.name}: {problem}\n  input: {fuzz_input.describe()}")
        self.target, self.fuzz_input, self.problem = target, fuzz_input, problem


@dataclass
class Limits:
    """Per-input bounds. The inputs are a few KiB, so any allocation near ``memory`` means a size
    claimed by the file was trusted; ``seconds`` is generous for a slow, shared CI machine."""

    seconds: float = 10.0
    memory: int = 256 * 2**20
    trace_memory: bool = True


@dataclass
class Tally:
    """What a run of many inputs produced, per outcome and per warning category."""

    outcomes: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    inputs: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    peak_bytes: int = 0


def _refuse_swallowed_memory_error(target: Target, fuzz_input: FuzzInput, error: BaseException) -> None:
    """A MemoryError behind an allowed exception means a size from the file was trusted and an
    allocation was attempted (it failed here only because the claim was absurd)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, MemoryError):
            raise FuzzFailure(target, fuzz_input, f"an allocation failed while reading ({error!r:.200}): "
                              "a size claimed by the file was trusted")
        error = error.__cause__ or error.__context__


def write_files(folder: Path, fuzz_input: FuzzInput) -> None:
    """Empty ``folder`` and write the input's files into it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in fuzz_input.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def run_one(target: Target, fuzz_input: FuzzInput, folder: Path, limits: Limits | None = None,
            tally: Tally | None = None) -> str:
    """Run ``target`` on ``fuzz_input``; return the outcome label or raise :class:`FuzzFailure`."""
    limits = limits or Limits()
    write_files(folder, fuzz_input)
    tracing = limits.trace_memory and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    try:
        # Warnings are recorded, not raised: pytest turns them into errors, a user's script does not.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = target.call(folder, fuzz_input.options)
                outcome = "ok"
            except target.allowed as error:
                result, outcome = None, type(error).__name__
                _refuse_swallowed_memory_error(target, fuzz_input, error)
            except BaseException as error:  # noqa: BLE001 - classifying is the point
                if isinstance(error, KeyboardInterrupt):
                    raise
                raise FuzzFailure(target, fuzz_input, f"undocumented {type(error).__name__}: {error!r:.500}") \
                    from error
        if outcome == "ok" and target.check is not None:
            try:
                target.check(result)
            except AssertionError as error:
                raise FuzzFailure(target, fuzz_input, f"accepted, but the result is wrong: {error}") from error
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else 0
        if tracing:
            tracemalloc.stop()
    if elapsed > limits.seconds:
        raise FuzzFailure(target, fuzz_input, f"took {elapsed:.1f} s (limit {limits.seconds} s)")
    if peak > limits.memory:
        raise FuzzFailure(target, fuzz_input, f"allocated {peak / 2**20:.0f} MiB at its peak "
                          f"(limit {limits.memory / 2**20:.0f} MiB)")
    if tally is not None:
        tally.inputs += 1
        tally.outcomes[outcome] += 1
        tally.warnings.update(f"{w.category.__name__}: {str(w.message)[:80]}" for w in caught)
        tally.seconds += elapsed
        tally.slowest = max(tally.slowest, elapsed)
        tally.peak_bytes = max(tally.peak_bytes, peak)
    return outcome
