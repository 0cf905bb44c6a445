"""Hypothesis strategies that damage files: byte-level mutations, .npy headers, zip containers and
JSON documents. The parser fuzzers (``fuzz_datasets.py``, ``fuzz_models.py``) build their inputs
from these, so the short in-suite run and the long campaign (``benchmarks/fuzz_parsers.py``) draw
from the same generators.

Bulk content (pixels, weights) is never drawn value by value: a strategy draws a few decisions and
an integer seed, and NumPy synthesises the bytes from the seed. That keeps an example to a few dozen
hypothesis draws however large the file is.
"""
from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile

import numpy as np
from hypothesis import strategies as st

# Numbers that break size arithmetic: zero, sign and width boundaries, "a million of everything".
INTERESTING_INTS = [0, 1, 2, 3, 28, 255, 256, 784, 60000, 65535, 2**16, 10**6, 2**31 - 1, 2**31,
                    2**32 - 1, 2**32, 2**53, 2**63 - 1, 2**63, 2**64, 10**12, -1, -2**31, -2**63]

# Values a JSON document may hold where the reader expects something else.
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.sampled_from(INTERESTING_INTS), st.integers(-10**30, 10**30),
    st.sampled_from([0.0, -0.0, 0.5, 1e-45, 1e308, -1e308, 1.5e300]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "relu", "softmax", "Dense", "Sequential", "../../etc/passwd", "a" * 300,
                     "\x00", "é", "valid", "same", "float64", "model", "weights", "axonal"]),
    st.text(max_size=12))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=10)


def _position(draw, data: bytearray) -> int:
    return draw(st.integers(0, max(len(data) - 1, 0)))


def _flip(draw, data: bytearray) -> bytearray:
    if data:
        for _ in range(draw(st.integers(1, 8))):
            index = _position(draw, data)
            data[index] ^= 1 << draw(st.integers(0, 7))
    return data


def _truncate(draw, data: bytearray) -> bytearray:
    return data[:draw(st.integers(0, len(data)))]


def _insert(draw, data: bytearray) -> bytearray:
    index = draw(st.integers(0, len(data)))
    return data[:index] + draw(st.binary(min_size=1, max_size=32)) + data[index:]


def _delete(draw, data: bytearray) -> bytearray:
    index = _position(draw, data)
    return data[:index] + data[index + draw(st.integers(1, 64)):]


def _overwrite_int(draw, data: bytearray) -> bytearray:
    # Size fields are 2-, 4- or 8-byte integers, big-endian in IDX, little-endian in zip.
    value = draw(st.sampled_from(INTERESTING_INTS)) % 2**64
    width, order = draw(st.sampled_from([(2, "<"), (4, "<"), (4, ">"), (8, "<")]))
    packed = struct.pack(order + {2: "H", 4: "I", 8: "Q"}[width], value % 2**(8 * width))
    index = _position(draw, data)
    return data[:index] + packed + data[index + width:]


def _duplicate(draw, data: bytearray) -> bytearray:
    start = _position(draw, data)
    chunk = data[start:start + draw(st.integers(1, 256))]
    index = draw(st.integers(0, len(data)))
    return data[:index] + chunk + data[index:]


def _magic(draw, data: bytearray) -> bytearray:
    # Another format's signature where this one's is expected (or anywhere).
    magic = draw(st.sampled_from([b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"\x1f\x8b\x08",
                                  b"\x00\x00\x08\x03", b"\x00\x00\x0d\xff", b"{", b"\xff" * 8]))
    index = draw(st.sampled_from([0, 0, _position(draw, data)]))
    return data[:index] + magic + data[index + len(magic):]


def _zip_flags(draw, data: bytearray) -> bytearray:
    # Toggle a zip header's general-purpose flags: bit 0 "encrypted", bit 3 "sizes after the data",
    # bit 11 "name is UTF-8" (zipfile then decodes a local name that may not be; found by atheris).
    headers = [i for signature in (b"PK\x03\x04", b"PK\x01\x02") for i in _find_all(data, signature)
               if i + 10 <= len(data)]
    if not headers:
        return _flip(draw, data)
    start = draw(st.sampled_from(headers))
    at = start + (6 if data[start + 2] == 3 else 8)  # in a local header, else a central directory entry
    flags = struct.unpack("<H", data[at:at + 2])[0] ^ draw(st.sampled_from([0x1, 0x8, 0x800]))
    data[at:at + 2] = struct.pack("<H", flags)
    return data


def _find_all(data: bytearray, pattern: bytes) -> list[int]:
    found, start = [], data.find(pattern)
    while start >= 0:
        found.append(start)
        start = data.find(pattern, start + 1)
    return found


BYTE_MUTATIONS = [_flip, _truncate, _insert, _delete, _overwrite_int, _duplicate, _magic, _zip_flags]


@st.composite
def mutated(draw, data: bytes, max_mutations: int = 3) -> bytes:
    """``data`` after 1 to ``max_mutations`` byte-level mutations."""
    result = bytearray(data)
    for _ in range(draw(st.integers(1, max_mutations))):
        result = draw(st.sampled_from(BYTE_MUTATIONS))(draw, result)
    return bytes(result)


def maybe_mutated(draw, data: bytes, probability_of_none: int = 2) -> bytes:
    """``data`` unchanged about once in ``probability_of_none`` draws, else mutated."""
    return data if draw(st.integers(0, probability_of_none - 1)) == 0 else draw(mutated(data))


# ----- .npy members --------------------------------------------------------------------------------

NPY_DESCRS = ["|u1", "|u1", "<f4", "<u8", "<i8", ">u2", "|i1", "<f8", "|b1", "|O", "<U3", "|V0",
              "|V4", "<c8", "<M8[s]", [("a", "<i4")], "bogus", 7]


@st.composite
def npy_bytes(draw, shape: tuple, descr: str = "|u1") -> bytes:
    """An .npy file meant to hold ``shape``/``descr``, with its header or data often damaged."""
    kind = draw(st.sampled_from(["valid", "valid", "shape", "descr", "huge", "version", "text", "data"]))
    if kind == "shape":
        shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 28, 29, 10000]), max_size=5)))
    elif kind == "huge":  # must be refused before numpy allocates what the header claims
        shape = tuple(draw(st.lists(st.sampled_from([2**20, 10**6, 2**31, 2**32, 2**62]), min_size=1,
                                    max_size=3)))
    if kind == "descr":
        descr = draw(st.sampled_from(NPY_DESCRS))
    header = {"descr": descr, "fortran_order": draw(st.sampled_from([False, False, True])), "shape": shape}
    text = repr(header)
    if kind == "text":  # the header's Python literal itself damaged
        text = draw(st.sampled_from([text[:-1], text + "x", "{}", "[1, 2]", "{'descr': '|u1'}",
                                     "{'descr': '|u1', 'fortran_order': False, 'shape': (-1,)}",
                                     "{'descr': '|u1', 'fortran_order': False, 'shape': (1.5,)}",
                                     "(" * 200 + ")" * 200, "__import__('os')", text.replace("'", '"')]))
    major = draw(st.sampled_from([1, 1, 2, 3, 0, 255])) if kind == "version" else 1
    padded = text + " " * ((-(len(text) + 11)) % 64) + "\n"
    size_format = "<I" if major >= 2 else "<H"
    length_field = struct.pack(size_format, len(padded) % 2**(8 * struct.calcsize(size_format)))
    prefix = b"\x93NUMPY" + bytes((major, 0)) + length_field
    try:
        itemsize = np.dtype(descr).itemsize if isinstance(descr, (str, list)) else 1
    except (TypeError, ValueError):
        itemsize = 1
    count = int(np.prod(shape, dtype=object)) * itemsize if shape else itemsize
    length = count if count <= 1 << 16 else draw(st.integers(0, 64))
    if kind == "data":
        length = max(0, length + draw(st.sampled_from([-1, 1, -length, 4096])))
    seed = draw(st.integers(0, 2**32 - 1))
    payload = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    return prefix + padded.encode("latin-1") + payload


# ----- zip containers ------------------------------------------------------------------------------

def zip_bytes(members: list[tuple[str, bytes, int]]) -> bytes:
    """A zip of ``(name, content, compression)`` members, in order; duplicates are kept."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": wanted here
        for name, content, compression in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            archive.writestr(info, content)
    return buffer.getvalue()


def read_members(data: bytes) -> list[tuple[str, bytes, int]]:
    """The members of a (valid) zip as ``(name, content, compression)``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info), info.compress_type) for info in archive.infolist()]


HOSTILE_NAMES = ["../escape.npy", "/abs.npy", "a\\b.npy", "c:x.npy", "", "./x.npy", "a//b.npy",
                 "dir/", "X_TRAIN.npy", "x_train", "x_test.npy.npy", "config.json", "weights/0.npy",
                 "weights/99.npy", "optimizer/0/m.npy", "state/shuffle_rng.npy", "é.npy"]


@st.composite
def mutated_members(draw, members: list[tuple[str, bytes, int]]) -> list[tuple[str, bytes, int]]:
    """Members after 1-3 container-level changes: renamed, duplicated, dropped, added, swapped,
    oversized (a deflated run of zeros far larger than any real member) or recompressed."""
    members = list(members)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["rename", "duplicate", "drop", "add", "swap", "oversize",
                                       "compress"]))
        index = draw(st.integers(0, max(len(members) - 1, 0)))
        if not members and action != "add":
            action = "add"
        if action == "rename":
            name, content, compression = members[index]
            members[index] = (draw(st.sampled_from(HOSTILE_NAMES + [m[0] for m in members])), content, compression)
        elif action == "duplicate":
            members.insert(draw(st.integers(0, len(members))), members[index])
        elif action == "drop":
            del members[index]
        elif action == "add":
            members.append((draw(st.sampled_from(HOSTILE_NAMES)), draw(st.binary(max_size=64)), zipfile.ZIP_STORED))
        elif action == "swap":
            other = draw(st.integers(0, len(members) - 1))
            (a, ca, za), (b, cb, zb) = members[index], members[other]
            members[index], members[other] = (a, cb, za), (b, ca, zb)
        elif action == "oversize":
            name, content, _ = members[index]
            extra = draw(st.sampled_from([1, 2**16, 2**20, 2**24]))
            members[index] = (name, content + bytes(extra), zipfile.ZIP_DEFLATED)
        else:
            name, content, compression = members[index]
            members[index] = (name, content, zipfile.ZIP_DEFLATED if compression == zipfile.ZIP_STORED
                              else zipfile.ZIP_STORED)
    return members


# ----- JSON documents ------------------------------------------------------------------------------

def _paths(node, prefix=()):
    """Every (path) to a value inside ``node``, the root excluded."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix + (key,)
        yield from _paths(value, prefix + (key,))


def _at(document, path):
    for key in path:
        document = document[key]
    return document


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


DEEP = "\x00deep\x00"  # placeholder replaced by deeply nested text after encoding


@st.composite
def mutated_json(draw, document: dict) -> str:
    """``document`` after 1-3 edits at random places (a number made huge, negative, fractional or
    NaN; a value replaced by one of any type; a key deleted or added; a list item repeated up to
    5,000 times; a value wrapped in a list, stringified or nested 100,000 deep), as JSON text (NaN
    written as ``NaN``, as Python does)."""
    document = json.loads(json.dumps(document))  # a private copy
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(document))
        if not paths:
            break
        action = draw(st.sampled_from(["number", "number", "replace", "replace", "delete", "add", "wrap",
                                       "stringify", "deep", "repeat"]))
        numbers = [p for p in paths if _is_number(_at(document, p))]
        if action == "number" and not numbers:
            action = "replace"
        path = draw(st.sampled_from(numbers if action == "number" else paths))
        parent = _at(document, path[:-1])
        key = path[-1]
        if action == "number":  # sizes, rates, counts: where a huge or negative value does harm
            parent[key] = draw(st.sampled_from(INTERESTING_INTS + [0.0, -0.5, 1.5, 1e308, float("nan")]))
        elif action == "replace":
            parent[key] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[key]
        elif action == "add":
            if isinstance(parent, dict):
                parent[draw(st.text(max_size=10))] = draw(JSON_VALUES)
            else:
                parent.insert(key, draw(JSON_VALUES))
        elif action == "wrap":
            parent[key] = [parent[key]]
        elif action == "repeat" and isinstance(parent, list):  # thousands of layers, slots, dims...
            # At most about 4 MB of copies: the document must stay far below the 16 MiB the loader
            # accepts, and a campaign must not spend its own memory on giant inputs.
            count = min(draw(st.sampled_from([2, 100, 999, 5000])), max(2, 4_000_000 // len(json.dumps(parent[key]))))
            parent[key:key + 1] = [parent[key]] * count
        elif action == "stringify":
            parent[key] = json.dumps(parent[key])
        else:  # "deep", or a "repeat" drawn for a member of an object
            parent[key] = DEEP
    text = json.dumps(document, allow_nan=True)
    depth = draw(st.sampled_from([50, 1000, 100_000]))
    # One deep nest per document (a repeated list may hold many placeholders): the others become 0.
    return text.replace(json.dumps(DEEP), "[" * depth + "]" * depth, 1).replace(json.dumps(DEEP), "0")
