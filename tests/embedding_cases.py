"""Backend op cases of the embedding family (``backend_cases.CASES`` takes them): a gather forward and a
scatter-add backward on ``sizes = (N, C, K)`` read as N·2 + 1 lookups into a (C + 1, K) matrix, with
ids drawn so that rows repeat (the backward's sums) and some rows are never looked up (zero rows)."""
from __future__ import annotations

from functools import partial

import numpy as np

SEED = 20240611


def embedding_case(spread, backend, sizes, dtype):
    from backend_cases import _device, _host, _outputs

    n, c, k = sizes
    lookups, vocabulary = 2 * n + 1, c + 1
    rng = np.random.default_rng(SEED)
    high = max(1, vocabulary // spread)  # "repeats": ids from the first rows only, many shared
    ids = rng.integers(0, high, lookups).astype(np.int32)
    W = rng.standard_normal((vocabulary, k)).astype(dtype)
    dy = rng.standard_normal((lookups, k)).astype(dtype)
    y, dW = _outputs(((lookups, k), dtype), ((vocabulary, k), dtype), backend=backend)
    backend.embedding_forward(y, _device(backend, ids), _device(backend, W))
    backend.embedding_backward(dW, _device(backend, dy), _device(backend, ids))
    return {"y": _host(y), "dW": _host(dW)}


EMBEDDING_CASES = {"embedding:spread": partial(embedding_case, 1), "embedding:repeats": partial(embedding_case, 4)}
