"""Philox4x32-10 in NumPy: Random123's known-answer vectors, and the vectorised form against a
plain one-counter-at-a-time version written from the paper's round function."""
import numpy as np
import pytest

from axonal.backend.philox import dropout_keep_mask, dropout_uniforms, philox4x32_10

# (counter, key) -> output, from Random123's kat_vectors for philox4x32_10.
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def scalar_philox(counter, key):
    """One counter with Python integers: ten rounds of Philox's S-box and key bump."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        product0, product1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((product1 >> 32) ^ c1 ^ k0, product1 & 0xFFFFFFFF,
                          (product0 >> 32) ^ c3 ^ k1, product0 & 0xFFFFFFFF)
        k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return c0, c1, c2, c3


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_known_answer_vectors(counter, key, expected):
    assert philox4x32_10(np.array(counter, dtype=np.uint32), key).tolist() == list(expected)
    assert scalar_philox(counter, key) == expected  # the test's own loop is right too


def test_batch_of_counters_matches_scalar_loop():
    rng = np.random.default_rng(3)
    counters = rng.integers(0, 2**32, size=(6, 4), dtype=np.uint64).astype(np.uint32)
    counters[0] = 0
    counters[1] = 0xFFFFFFFF
    key = (0xDEADBEEF, 0x12345678)
    batch = philox4x32_10(counters, key)
    assert batch.dtype == np.uint32 and batch.shape == (6, 4)
    for row, counter in zip(batch, counters.tolist()):
        assert tuple(row.tolist()) == scalar_philox(counter, key)


def test_counter_array_shape_is_kept():
    counters = np.arange(2 * 3 * 4, dtype=np.uint32).reshape(2, 3, 4)
    out = philox4x32_10(counters, (1, 2))
    assert out.shape == (2, 3, 4)
    assert out[1, 2].tolist() == list(scalar_philox(counters[1, 2].tolist(), (1, 2)))


def test_rejects_counters_without_four_words():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        philox4x32_10(np.zeros((5, 3), dtype=np.uint32), (0, 0))


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 7, 13, 22])
def test_dropout_uniform_follows_the_documented_mapping(index):
    """Element i: block b = i >> 2 as counter words 0-1, step as words 2-3, word i & 3, top 24 bits."""
    seed, layer_id, step = 2**32 + 99, 2**32 + 4, 2**33 + 5  # seed and layer id wrap, step has a high word
    block = index >> 2
    counter = (block & 0xFFFFFFFF, block >> 32, step & 0xFFFFFFFF, step >> 32)
    word = scalar_philox(counter, (seed % 2**32, layer_id % 2**32))[index & 3]
    uniforms = dropout_uniforms(23, seed, layer_id, step)
    assert uniforms.dtype == np.float32
    assert uniforms[index] == (word >> 8) / 2**24


def test_dropout_block_index_uses_both_counter_words():
    """A mask longer than 2^34 elements cannot be built in a test, so check the block formula on
    philox directly: block 2^32 + 1 is counter (1, 1, ...), not (1, 0, ...)."""
    block = 2**32 + 1
    expected = scalar_philox((1, 1, 7, 0), (5, 6))
    assert philox4x32_10(np.array([block & 0xFFFFFFFF, block >> 32, 7, 0], dtype=np.uint32),
                         (5, 6)).tolist() == list(expected)
    assert expected != scalar_philox((1, 0, 7, 0), (5, 6))


def test_keep_mask_is_u_at_least_rate():
    uniforms = dropout_uniforms(1000, 11, 2, 3)
    mask = dropout_keep_mask((10, 100), 0.37, 11, 2, 3)
    assert mask.dtype == np.uint8 and mask.shape == (10, 100)
    np.testing.assert_array_equal(mask.reshape(-1), (uniforms >= np.float32(0.37)).astype(np.uint8))


def test_mask_prefix_does_not_depend_on_shape():
    """Element i's bit depends only on i, so a longer mask starts with the shorter one."""
    short = dropout_keep_mask((3, 5), 0.5, 1, 0, 9).reshape(-1)
    long = dropout_keep_mask((4, 5), 0.5, 1, 0, 9).reshape(-1)
    np.testing.assert_array_equal(long[:15], short)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_keep_mask_rejects_rates_outside_zero_one(rate):
    with pytest.raises(ValueError, match="rate"):
        dropout_keep_mask((2, 2), rate, 0, 0, 0)
