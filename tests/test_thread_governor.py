"""The adaptive thread count (models/executors/threads.py): its decisions on a fake clock, the ways a
user fixes the count, and the bits of training, which must not depend on the count it picks."""
import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential
from axonal.models.executors import native_plan, threads

native = pytest.importorskip("axonal._native", reason="the native extension is not built")


class Machine:
    """A fake clock whose runs take ``rows / speed[threads]`` seconds, with speeds the test changes."""

    def __init__(self, speeds: dict[int, float]):
        self.speeds, self.now, self.threads, self.counts = dict(speeds), 0.0, None, []

    def clock(self) -> float:
        return self.now

    def apply(self, count: int) -> None:
        self.threads = count

    def run(self, governor: threads.ThreadGovernor, rows: int = 3000) -> int:
        """One run through begin/end; returns the count it used."""
        count = governor.begin()
        assert count == self.threads
        self.now += rows / self.speeds[count]
        governor.end(rows)
        self.counts.append(count)
        return count


def run_for(machine: Machine, governor, seconds: float) -> list[int]:
    """Runs until ``seconds`` of fake time pass; the counts used."""
    start, counts = machine.now, []
    while machine.now - start < seconds:
        counts.append(machine.run(governor))
    return counts


def test_ladder_halves_down_to_one():
    assert threads.ladder(1) == [1]
    assert threads.ladder(2) == [1, 2]
    assert threads.ladder(16) == [1, 2, 4, 8, 16]
    assert threads.ladder(6) == [1, 3, 6]
    with pytest.raises(ValueError, match="max_threads"):
        threads.ladder(0)


def test_quiet_machine_keeps_every_thread_and_probes_ever_less_often():
    machine = Machine({2: 60000.0, 1: 37000.0})   # W1's rows/s on this machine, quiet
    governor = threads.ThreadGovernor(2, machine.apply, machine.clock)
    counts = run_for(machine, governor, 20.0)
    assert governor.current == 2 and governor.switches == []
    assert counts[:3] == [2, 2, 1]               # the first probe comes early
    probes = [i for i, c in enumerate(counts) if c == 1]
    gaps = np.diff(probes)
    assert gaps[-1] > gaps[0]                    # losing probes back off
    assert governor.interval == governor.max_probe_seconds
    assert len(probes) / len(counts) < 0.05      # a quiet machine pays a few slow runs in a hundred


def test_busy_neighbour_moves_to_one_thread_and_back_when_it_leaves():
    machine = Machine({2: 60000.0, 1: 37000.0})
    governor = threads.ThreadGovernor(2, machine.apply, machine.clock)
    run_for(machine, governor, 10.0)
    assert governor.current == 2
    machine.speeds[2] = 5000.0                   # a neighbour takes a core: the team's barriers stall
    machine.speeds[1] = 35000.0
    counts = run_for(machine, governor, 2.0)
    # one slow run is suspect, the second confirms it, the third is the probe that wins
    assert governor.switches == [(2, 1)]
    assert counts[:3] == [2, 2, 1]
    busy = run_for(machine, governor, 10.0)
    assert governor.current == 1
    assert 1 <= busy.count(2) <= 10              # it keeps probing, backing off
    machine.speeds[2], machine.speeds[1] = 60000.0, 37000.0   # the neighbour leaves
    run_for(machine, governor, governor.max_probe_seconds + 1.0)
    assert governor.switches == [(2, 1), (1, 2)]


def test_one_slow_run_is_forgotten_without_a_probe():
    machine = Machine({2: 60000.0, 1: 37000.0})
    governor = threads.ThreadGovernor(2, machine.apply, machine.clock)
    run_for(machine, governor, 3.0)
    governor.interval = 100.0                    # no periodic probe in the way
    machine.speeds[2] = 5000.0
    machine.run(governor)                        # a hiccup
    machine.speeds[2] = 60000.0
    assert [machine.run(governor) for _ in range(3)] == [2, 2, 2]
    assert governor.rate == pytest.approx(60000.0)
    assert governor.switches == []


def test_a_probe_must_win_by_the_margin():
    machine = Machine({2: 60000.0, 1: 63000.0})  # 5% faster: within the noise margin
    governor = threads.ThreadGovernor(2, machine.apply, machine.clock)
    run_for(machine, governor, 10.0)
    assert governor.switches == []
    machine.speeds[1] = 70000.0                  # 17% faster: a real difference
    run_for(machine, governor, governor.max_probe_seconds + 1.0)
    assert governor.switches == [(2, 1)]


def test_short_runs_teach_nothing():
    machine = Machine({2: 60000.0, 1: 37000.0})
    governor = threads.ThreadGovernor(2, machine.apply, machine.clock)
    for _ in range(5):
        machine.run(governor, rows=10)           # ~0.2 ms each: an epoch's tail
    assert governor.rate is None and governor.runs == 0


def test_many_cores_probe_both_neighbours_in_turn():
    machine = Machine({1: 10000.0, 2: 19000.0, 4: 36000.0, 8: 20000.0})
    governor = threads.ThreadGovernor(8, machine.apply, machine.clock)
    run_for(machine, governor, 30.0)
    assert governor.current == 4                  # 8 -> 4 (faster), then 2 and 8 both lose
    assert governor.switches == [(8, 4)]
    probed = set(machine.counts[machine.counts.index(4):]) - {4}
    assert probed == {2, 8}


def test_end_without_begin_is_an_error():
    governor = threads.ThreadGovernor(2, lambda n: None, lambda: 0.0)
    with pytest.raises(RuntimeError, match="begin"):
        governor.end(10)


@pytest.fixture
def restore_threads():
    pinned, count = native.threads_pinned(), native.get_num_threads()
    yield
    if pinned:
        native.set_num_threads(count)
    else:
        native.unpin_num_threads()


def test_a_pinned_count_turns_adapting_off(restore_threads, monkeypatch):
    model = Sequential([Input(shape=(3,)), Dense(2)])
    axonal.set_num_threads(1)
    assert axonal.get_num_threads() == 1 and native.threads_pinned()
    assert threads.governor_for(model, "train") is threads.FIXED
    axonal.set_num_threads(None)
    assert not native.threads_pinned()
    assert axonal.get_num_threads() == native.default_num_threads()
    monkeypatch.setenv("AXONAL_ADAPTIVE_THREADS", "0")
    assert threads.governor_for(model, "train") is threads.FIXED
    monkeypatch.delenv("AXONAL_ADAPTIVE_THREADS")
    if native.default_num_threads() > 1:
        governor = threads.governor_for(model, "train")
        assert isinstance(governor, threads.ThreadGovernor)
        assert threads.governor_for(model, "train") is governor            # kept per model
        assert isinstance(threads.governor_for(model, "test"), threads.Follower)


@pytest.mark.parametrize("bad", [0, -1, 5000, 1.5, "2", True])
def test_set_num_threads_refuses_a_bad_count(bad, restore_threads):
    with pytest.raises(ValueError, match="set_num_threads: threads must be"):
        axonal.set_num_threads(bad)


def test_native_refuses_a_bad_count():
    with pytest.raises(ValueError, match="threads must be in"):
        native.adapt_num_threads(0)


def train_seed_mlp(monkeypatch, governor=None) -> list[np.ndarray]:
    """W1's model (smaller data) through the native loop, one batch per run, under ``governor``."""
    axonal.set_backend("cpu")
    axonal.set_seed(11)
    model = Sequential([Input(shape=(784,)), Dense(512, activation="relu"), Dropout(0.2),
                        Dense(512, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if governor is not None:
        monkeypatch.setattr(threads, "adaptive_enabled", lambda: True)
        model.__dict__["_thread_governors"] = {"train": governor}
    rng = np.random.default_rng(0)
    x = rng.random((1280, 784), dtype=np.float32)
    with monkeypatch.context() as patch:
        patch.setattr(native_plan, "SECONDS_PER_RUN", 1e-9)   # every run is one batch: 10 runs an epoch
        model.fit(x, rng.integers(0, 10, 1280), batch_size=128, epochs=2, verbose=0)
    return model.get_weights() + model.optimizer.variables


def assert_same_bits(first, second):
    assert len(first) == len(second)
    for index, (a, b) in enumerate(zip(first, second)):
        assert a.tobytes() == b.tobytes(), f"array {index} differs"


def test_one_and_two_threads_train_the_same_bits(restore_threads, monkeypatch):
    # MKL's strict CNR mode (cpp/blas_mkl.cpp) makes its GEMMs independent of the thread count; in
    # its plain mode the 128x512x784 forward GEMM differs between 1 and 2 threads and so does this.
    axonal.set_num_threads(1)
    one = train_seed_mlp(monkeypatch)
    axonal.set_num_threads(2)
    two = train_seed_mlp(monkeypatch)
    assert_same_bits(one, two)


def test_fit_under_forced_switching_gives_the_bits_of_a_fixed_count(restore_threads, monkeypatch):
    class ProbeAlwaysWins:
        """A clock on which every probe runs in 0.8 of the time of the run before: it always wins."""

        def __init__(self):
            self.now, self.step, self.governor, self.calls = 0.0, 1.0, None, 0

        def __call__(self) -> float:
            self.calls += 1
            if self.calls % 2 == 0:   # read at the end of a run (begin and end alternate)
                self.step *= 0.8 if self.governor.probing is not None else 1.0
                self.now += self.step
            return self.now

    axonal.set_num_threads(2)
    fixed = train_seed_mlp(monkeypatch)
    native.unpin_num_threads()
    clock = ProbeAlwaysWins()
    governor = threads.ThreadGovernor(2, native.adapt_num_threads, clock)
    governor.first_probe_runs, governor.probe_seconds = 1, 0.0
    clock.governor = governor
    switching = train_seed_mlp(monkeypatch, governor)
    assert len(governor.switches) >= 5, governor.switches   # the count changed all along the fit
    assert_same_bits(fixed, switching)
