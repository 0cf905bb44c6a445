"""The host emulation's rules for streams and events in a capture (tests/cuda_host/README.md): a
stream joins a capture by waiting on an event recorded in it (a fork), the origin must wait on
every forked stream's work before the capture ends (a join), a stream outside the capture may not
queue work while it is open, a captured stream may not wait on work outside it, and a replay runs
the nodes in a random order that respects their dependencies. Runs where the CUDA tests run on the
emulation (``AXONAL_CUDA_HOST`` set, as in CI), and is skipped elsewhere."""
import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("AXONAL_CUDA_HOST"),
                                reason="AXONAL_CUDA_HOST is not set: the CUDA host emulation is not built here")


@pytest.fixture
def emulation():
    import cupy
    from cuda_host import host_cupy

    from axonal.backend import cuda as ops

    return cupy, host_cupy, ops


def arrays(cupy, *values):
    return [cupy.asarray(np.full(4, v, dtype=np.float32)) for v in values]


def test_a_fork_and_a_join_make_a_graph_across_two_streams(emulation):
    cupy, host_cupy, ops = emulation
    main, side = cupy.cuda.Stream(non_blocking=True), cupy.cuda.Stream(non_blocking=True)
    forked, joined = cupy.cuda.Event(disable_timing=True), cupy.cuda.Event(disable_timing=True)
    x, y, z, w = arrays(cupy, 1, 0, 0, 0)
    main.begin_capture()
    with main:
        ops.scale(y, x, 3.0)             # node 0: y = 3x
    forked.record(main)
    side.wait_event(forked)              # the fork: side joins the capture after node 0
    assert side.is_capturing()
    with side:
        ops.scale(z, y, 2.0)             # node 1 (side): z = 2y, after node 0
    with main:
        ops.scale(w, x, 5.0)             # node 2 (main): concurrent with node 1
    joined.record(side)
    main.wait_event(joined)              # the join
    with main:
        ops.accumulate(w, z)             # node 3: after nodes 1 and 2
    graph = main.end_capture()
    assert not side.is_capturing()       # the forked stream leaves the capture with its origin
    assert float(z.get()[0]) == 0.0      # nothing ran while captured
    nodes = graph.describe()
    assert [(stream, deps) for _, stream, deps in nodes] == [
        (main.ptr, ()), (side.ptr, (0,)), (main.ptr, (0,)), (main.ptr, (2, 1))]
    graph.launch(stream=main)
    np.testing.assert_array_equal(w.get(), np.full(4, 11.0, np.float32))  # 5x + 2 · 3x


def test_a_fork_not_joined_before_end_capture_invalidates_it(emulation):
    cupy, host_cupy, ops = emulation
    main, side = cupy.cuda.Stream(non_blocking=True), cupy.cuda.Stream(non_blocking=True)
    x, y = arrays(cupy, 1, 0)
    main.begin_capture()
    side.wait_event(main.record(cupy.cuda.Event(disable_timing=True)))
    with side:
        ops.scale(y, x, 2.0)
    with pytest.raises(host_cupy.CaptureError, match="not joined before end_capture"):
        main.end_capture()
    assert not side.is_capturing() and not main.is_capturing()
    with side:  # both streams are plain streams again: work runs at once
        ops.scale(y, x, 4.0)
    assert float(y.get()[0]) == 4.0


def test_a_stream_that_was_not_forked_may_not_queue_work_during_a_capture(emulation):
    cupy, host_cupy, ops = emulation
    main, other = cupy.cuda.Stream(non_blocking=True), cupy.cuda.Stream(non_blocking=True)
    x, y = arrays(cupy, 1, 0)
    main.begin_capture()
    with other, pytest.raises(RuntimeError, match="outside the open capture"):
        ops.scale(y, x, 2.0)
    with pytest.raises(host_cupy.CaptureError, match="not part of the open capture"):
        main.end_capture()


def test_a_captured_stream_may_not_wait_on_work_outside_the_capture(emulation):
    cupy, host_cupy, ops = emulation
    main, other = cupy.cuda.Stream(non_blocking=True), cupy.cuda.Stream(non_blocking=True)
    outside = other.record(cupy.cuda.Event(disable_timing=True))  # recorded before the capture
    main.begin_capture()
    with pytest.raises(host_cupy.CaptureError, match="cudaErrorStreamCaptureIsolation"):
        main.wait_event(outside)
    with pytest.raises(host_cupy.CaptureError, match="waited on an event recorded outside the capture"):
        main.end_capture()


def test_only_the_origin_ends_a_capture_and_captured_events_are_not_waited_for_on_the_host(emulation):
    cupy, host_cupy, ops = emulation
    main, side = cupy.cuda.Stream(non_blocking=True), cupy.cuda.Stream(non_blocking=True)
    event = cupy.cuda.Event(disable_timing=True)
    main.begin_capture()
    event.record(main)
    with pytest.raises(host_cupy.CaptureError, match="cudaErrorStreamCaptureUnsupported"):
        event.synchronize()
    side.wait_event(event)
    with pytest.raises(host_cupy.CaptureError, match="StreamCaptureUnmatched"):
        side.end_capture()
    assert not main.is_capturing()  # the whole capture ended with the error
    with pytest.raises(host_cupy.CaptureError, match="which is not captured"):
        main.end_capture()
    with pytest.raises(host_cupy.CaptureError, match="recorded in a capture that has ended"):
        side.wait_event(event)  # an event of an ended capture stands for no work of a stream


def test_a_replay_runs_a_missing_dependency_sometimes_early_sometimes_late(emulation):
    # The side stream forks before node "y = 3x" of the main stream and reads y: a race a GPU might
    # or might not show. Replays draw valid orders at random, so both outcomes appear; with the fork
    # after the write, every replay gives the right value.
    cupy, host_cupy, ops = emulation
    main, side = cupy.cuda.Stream(non_blocking=True), cupy.cuda.Stream(non_blocking=True)
    x, y, z = arrays(cupy, 1, 0, 0)

    def capture(fork_after_write: bool):
        main.begin_capture()
        if not fork_after_write:
            side.wait_event(main.record(cupy.cuda.Event(disable_timing=True)))
        with main:
            ops.scale(y, x, 3.0)
        if fork_after_write:
            side.wait_event(main.record(cupy.cuda.Event(disable_timing=True)))
        with side:
            ops.scale(z, y, 2.0)
        main.wait_event(side.record(cupy.cuda.Event(disable_timing=True)))
        with main:
            ops.scale(y, y, 0.0)  # y back to 0 for the next replay
        return main.end_capture()

    for fork_after_write, expected in ((False, {0.0, 6.0}), (True, {6.0})):
        graph, seen = capture(fork_after_write), set()
        for _ in range(40):
            graph.launch(stream=main)
            seen.add(float(z.get()[0]))
        assert seen == expected, fork_after_write
