"""Downloads against a real HTTP server on 127.0.0.1, with a tiny fake dataset and its checksums.

No test reaches the internet: the built-in mirror list is replaced by local URLs (or by an
unreachable local port), AXONAL_HOME is a tmp dir and proxies are cleared (one test sets a proxy,
which is the local server itself).
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import struct
import threading
import time

import numpy as np
import pytest

from axonal.datasets import DatasetNotFoundError, _catalog, _download, _locations
from axonal.datasets._catalog import DatasetSpec, FileSpec
from axonal.datasets._load import load_split, load_splits

NAME = "tiny-mnist"
SIZES = {"train": 6, "test": 4}
FILES = {("train", "images"): "train-images-idx3-ubyte",
         ("train", "labels"): "train-labels-idx1-ubyte",
         ("test", "images"): "t10k-images-idx3-ubyte",
         ("test", "labels"): "t10k-labels-idx1-ubyte"}


def _idx(array):
    return bytes((0, 0, 8, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape) \
        + array.tobytes()


def _make_dataset():
    rng = np.random.default_rng(7)
    arrays, payloads, gzs = {}, {}, {}
    for split, n in SIZES.items():
        arrays[split, "images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[split, "labels"] = rng.integers(0, 10, n, dtype=np.uint8)
    for key, array in arrays.items():
        payloads[key] = _idx(array)
        gzs[FILES[key] + ".gz"] = gzip.compress(payloads[key], mtime=0)
    specs = tuple(FileSpec(FILES[key], key[0], key[1], SIZES[key[0]],
                           hashlib.sha256(payloads[key]).hexdigest(),
                           gz_sha256=hashlib.sha256(gzs[FILES[key] + ".gz"]).hexdigest(),
                           gz_md5=hashlib.md5(gzs[FILES[key] + ".gz"]).hexdigest())
                  for key in FILES)
    return arrays, gzs, DatasetSpec(name=NAME, title="Tiny", files=specs, npz_name="tiny.npz")


ARRAYS, GZ_FILES, SPEC = _make_dataset()


class Server:
    """http.server in a thread. ``routes[url_path] = (behaviour, body)``; everything else 404s.

    Behaviours: "ok" sends the body; "drop" announces the full length, sends half, hangs up;
    "stall" sleeps past the client's timeout.
    """

    def __init__(self):
        self.routes, self.requests = {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                # Through a proxy the request line carries the absolute URL; route on its path.
                path = "/" + self.path.split("://", 1)[-1].split("/", 1)[-1] \
                    if "://" in self.path else self.path
                behaviour, body = server.routes.get(path, ("404", b""))
                if behaviour == "404":
                    self.send_error(404)
                    return
                if behaviour == "stall":
                    time.sleep(1.5)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2] if behaviour == "drop" else body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout case)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def serve(self, prefix, behaviour="ok", files=None):
        for name, body in (files or GZ_FILES).items():
            self.routes[f"{prefix}{name}"] = (behaviour, body)
        return f"{self.url}{prefix}"


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Tiny dataset registered, cache in tmp_path, no proxies, no real mirror reachable."""
    for var in ("AXONAL_DATA", "AXONAL_OFFLINE", "AXONAL_MIRRORS", "http_proxy", "https_proxy",
                "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("AXONAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AXONAL_DOWNLOAD_TIMEOUT", "5")
    monkeypatch.setattr(_locations, "SYSTEM_DATA_DIR", str(tmp_path / "system"))
    monkeypatch.setitem(_catalog._SPECS, NAME, SPEC)
    for name in list(_catalog.MIRRORS):  # the real mirrors must never be tried from tests
        monkeypatch.setitem(_catalog.MIRRORS, name, ["http://127.0.0.1:9/"])
    monkeypatch.setitem(_catalog.MIRRORS, NAME, ["http://127.0.0.1:9/"])


def cache(tmp_path):
    return tmp_path / "home" / NAME


def assert_equal_to_fake(found):
    for split, (x, y) in found.items():
        np.testing.assert_array_equal(x, ARRAYS[split, "images"])
        np.testing.assert_array_equal(y, ARRAYS[split, "labels"])


def test_good_download_lands_in_cache_then_is_reused(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [server.serve("/a/")])
    assert_equal_to_fake(load_splits(NAME))
    assert sorted(p.name for p in cache(tmp_path).iterdir()) == sorted(GZ_FILES)
    assert "Downloading http://127.0.0.1" in capsys.readouterr().err  # plain text: not a tty
    count = len(server.requests)
    monkeypatch.setenv("AXONAL_OFFLINE", "1")
    assert_equal_to_fake(load_splits(NAME))  # served from the cache, nothing fetched
    assert len(server.requests) == count


def test_wrong_payload_checksum_is_rejected_and_nothing_cached(server, tmp_path, monkeypatch):
    bad = dict(GZ_FILES)
    payload = bytearray(gzip.decompress(bad["t10k-images-idx3-ubyte.gz"]))
    payload[-1] ^= 1
    bad["t10k-images-idx3-ubyte.gz"] = gzip.compress(bytes(payload))
    # AXONAL_MIRRORS: a user mirror, so only the uncompressed checksum applies to it.
    monkeypatch.setenv("AXONAL_MIRRORS", server.serve("/bad/", files=bad))
    with pytest.raises(DatasetNotFoundError) as info:
        load_split(NAME, "test")
    assert "checksum mismatch: uncompressed sha256" in str(info.value)
    assert not (cache(tmp_path) / "t10k-images-idx3-ubyte.gz").exists()
    assert not list(cache(tmp_path).glob("*.part"))


def test_gz_digest_checked_on_builtin_mirrors_only(server, tmp_path, monkeypatch):
    recompressed = {name: gzip.compress(gzip.decompress(body), compresslevel=1, mtime=1)
                    for name, body in GZ_FILES.items()}
    url = server.serve("/re/", files=recompressed)
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [url])
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch: .gz sha256"):
        load_split(NAME, "test")
    monkeypatch.setenv("AXONAL_MIRRORS", url)  # same bytes from a user mirror: payload is right
    np.testing.assert_array_equal(load_split(NAME, "test")[1], ARRAYS["test", "labels"])


def test_dropped_connection_leaves_no_file_and_next_mirror_works(server, tmp_path, monkeypatch):
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [server.serve("/drop/", "drop")])
    with pytest.raises(DatasetNotFoundError, match="connection closed after"):
        load_split(NAME, "train")
    assert not cache(tmp_path).exists() or not list(cache(tmp_path).iterdir())
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [server.serve("/drop/", "drop"),
                                                 server.serve("/good/")])
    np.testing.assert_array_equal(load_split(NAME, "train")[0], ARRAYS["train", "images"])


def test_404_then_working_mirror(server, tmp_path, monkeypatch):
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [f"{server.url}/missing/", server.serve("/ok/")])
    assert_equal_to_fake(load_splits(NAME))
    assert "/missing/train-images-idx3-ubyte.gz" in server.requests
    assert "/ok/train-images-idx3-ubyte.gz" in server.requests


def test_all_mirrors_fail_one_error_lists_each_attempt(server, monkeypatch):
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [f"{server.url}/missing/", "http://127.0.0.1:9/"])
    with pytest.raises(DatasetNotFoundError) as info:
        load_split(NAME, "test")
    text = str(info.value)
    assert "HTTP Error 404" in text and "127.0.0.1:9" in text and "Searched, in order" in text
    # The first file that no mirror has ends the attempt: the labels file is never asked for.
    assert len(server.requests) == 1 and text.count("HTTP Error 404") == 1


def test_offline_and_download_false_make_no_request(server, monkeypatch):
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [server.serve("/a/")])
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_split(NAME, "test", download=False)
    monkeypatch.setenv("AXONAL_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="AXONAL_OFFLINE=1"):
        load_split(NAME, "test")
    assert server.requests == []


def test_timeout_drops_a_stalled_mirror(server, monkeypatch):
    monkeypatch.setenv("AXONAL_DOWNLOAD_TIMEOUT", "0.3")
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [server.serve("/slow/", "stall")])
    start = time.monotonic()
    with pytest.raises(DatasetNotFoundError, match="timed out"):
        load_split(NAME, "test")
    assert time.monotonic() - start < 3


def test_only_missing_split_is_downloaded(server, tmp_path, monkeypatch):
    folder = cache(tmp_path)
    folder.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(GZ_FILES[name])
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [server.serve("/a/")])
    assert_equal_to_fake(load_splits(NAME))
    assert sorted(server.requests) == ["/a/train-images-idx3-ubyte.gz",
                                       "/a/train-labels-idx1-ubyte.gz"]


def test_interrupted_download_leaves_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [server.serve("/a/")])

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_download, "_check", interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_split(NAME, "test")
    assert list(cache(tmp_path).iterdir()) == []


def test_proxy_from_environment_is_used(server, monkeypatch):
    # The local server doubles as the proxy: the request reaches it with the absolute URL.
    server.serve("/via-proxy/")
    monkeypatch.setitem(_catalog.MIRRORS, NAME, ["http://dataset-mirror.invalid/via-proxy/"])
    monkeypatch.setenv("http_proxy", server.url)
    monkeypatch.setenv("no_proxy", "")
    np.testing.assert_array_equal(load_split(NAME, "test")[0], ARRAYS["test", "images"])
    assert "http://dataset-mirror.invalid/via-proxy/t10k-images-idx3-ubyte.gz" in server.requests


def test_mirrors_env_var_parsing(monkeypatch):
    monkeypatch.setenv("AXONAL_MIRRORS", "http://a.example/x, http://b.example/y/")
    assert _download.mirrors_for(SPEC) == [("http://a.example/x/", False),
                                           ("http://b.example/y/", False)]


def test_progress_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = _download._Progress("http://h/file.gz", 1000, stream)
    bar.last = 0  # allow an immediate redraw
    bar.update(500)
    bar.close(1000, "done")
    text = stream.getvalue()
    assert "\rfile.gz [" in text and "50.0%" in text and "file.gz: done" in text


def test_bad_cached_split_found_after_download_is_fetched_again(server, tmp_path, monkeypatch):
    folder = cache(tmp_path)
    folder.mkdir(parents=True)
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03 not images")
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(GZ_FILES["t10k-labels-idx1-ubyte.gz"])
    monkeypatch.setitem(_catalog.MIRRORS, NAME, [server.serve("/a/")])
    assert_equal_to_fake(load_splits(NAME))
    assert "/a/t10k-images-idx3-ubyte.gz" in server.requests
    assert not (folder / "t10k-images-idx3-ubyte").exists()
