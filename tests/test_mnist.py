"""fastconv.datasets.mnist: lookup order, gzip and raw files, checksum and truncation errors, offline errors,
and download through a local mirror (never the network)."""
import gzip
import hashlib

import numpy as np
import pytest

from fastconv.datasets import mnist
from mnist_data import load_or_skip

SHAPES = {"train-images-idx3-ubyte": (6, 28, 28), "train-labels-idx1-ubyte": (6,),
          "t10k-images-idx3-ubyte": (4, 28, 28), "t10k-labels-idx1-ubyte": (4,)}


def idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch, rng):
    """Small IDX files whose digests the loader is told to expect; returns (folder, arrays, raw bytes)."""
    arrays, raw, digests = {}, {}, {}
    for name, shape in SHAPES.items():
        arrays[name] = rng.integers(0, 256 if len(shape) > 1 else 10, shape).astype(np.uint8)
        raw[name] = idx_bytes(arrays[name])
        digests[name] = hashlib.sha256(raw[name]).hexdigest()
    monkeypatch.setattr(mnist, "FILES", digests)
    monkeypatch.setattr(mnist, "MIRRORS", [(tmp_path / "nowhere").as_uri() + "/"])
    monkeypatch.delenv("FASTCONV_DATA", raising=False)
    folder = tmp_path / "data"
    folder.mkdir()
    return folder, arrays, raw


def write(folder, raw, gz=True, skip=()):
    for name, data in raw.items():
        if name in skip:
            continue
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_loads_gzipped_or_raw_files(fake_mnist, gz):
    folder, arrays, raw = fake_mnist
    write(folder, raw, gz)
    (x, y), (xt, yt) = mnist.load_data(folder)
    np.testing.assert_array_equal(x, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(yt, arrays["t10k-labels-idx1-ubyte"])
    assert x.dtype == np.uint8 and x.shape == (6, 28, 28) and y.shape == (6,) and xt.shape == (4, 28, 28)


def test_lookup_order_path_then_env_then_cache(fake_mnist, tmp_path, monkeypatch):
    folder, _, raw = fake_mnist
    write(folder, raw)
    monkeypatch.setenv("FASTCONV_DATA", str(folder))
    assert mnist.data_dir() == folder
    assert mnist.load_data()[0][0].shape == (6, 28, 28)
    assert mnist.data_dir(tmp_path) == tmp_path
    monkeypatch.delenv("FASTCONV_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert mnist.data_dir() == tmp_path / ".cache" / "fastconv" / "mnist"


def test_missing_files_offline_name_the_files_and_folder(fake_mnist):
    folder, _, raw = fake_mnist
    write(folder, raw, skip=("t10k-labels-idx1-ubyte", "train-images-idx3-ubyte"))
    with pytest.raises(mnist.MNISTError) as err:
        mnist.load_data(folder)
    msg = str(err.value)
    assert f"MNIST files missing from {folder}" in msg
    assert "t10k-labels-idx1-ubyte[.gz]" in msg and "train-images-idx3-ubyte[.gz]" in msg
    assert "FASTCONV_DATA" in msg and "download failed" in msg
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no partial downloads left behind


def test_truncated_file_is_refused_by_name(fake_mnist):
    folder, _, raw = fake_mnist
    write(folder, raw)
    target = folder / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-40])
    with pytest.raises(mnist.MNISTError, match="train-images-idx3-ubyte.gz is corrupt or truncated"):
        mnist.load_data(folder)


def test_corrupt_bytes_fail_the_checksum(fake_mnist):
    folder, _, raw = fake_mnist
    raw = dict(raw)
    data = bytearray(raw["t10k-images-idx3-ubyte"])
    data[100] ^= 0xFF
    raw["t10k-images-idx3-ubyte"] = bytes(data)
    write(folder, raw, gz=False)
    with pytest.raises(mnist.MNISTError, match=r"t10k-images-idx3-ubyte is corrupt or truncated: the SHA-256"):
        mnist.load_data(folder)


def test_bad_idx_headers_are_refused():
    with pytest.raises(mnist.MNISTError, match="not an IDX file"):
        mnist.parse_idx(b"\x00\x00\x0d\x01" + b"\x00" * 8, "f")
    with pytest.raises(mnist.MNISTError, match="truncated or padded"):
        mnist.parse_idx(idx_bytes(np.zeros((2, 3)))[:-1], "f")


def test_missing_files_are_downloaded_from_a_mirror_verified_and_renamed(fake_mnist, tmp_path, monkeypatch):
    folder, arrays, raw = fake_mnist
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write(mirror, raw)
    monkeypatch.setattr(mnist, "MIRRORS", [(tmp_path / "down").as_uri() + "/", mirror.as_uri() + "/"])
    target = tmp_path / "fresh"
    (x, _), _ = mnist.load_data(target)
    np.testing.assert_array_equal(x, arrays["train-images-idx3-ubyte"])
    assert sorted(p.name for p in target.iterdir()) == sorted(n + ".gz" for n in SHAPES)


def test_a_mirror_serving_a_bad_file_leaves_nothing_in_place(fake_mnist, tmp_path, monkeypatch):
    folder, _, raw = fake_mnist
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write(mirror, {k: v[:-3] for k, v in raw.items()})
    monkeypatch.setattr(mnist, "MIRRORS", [mirror.as_uri() + "/"])
    with pytest.raises(mnist.MNISTError, match="MNIST files missing"):
        mnist.load_data(tmp_path / "fresh")
    assert not list((tmp_path / "fresh").iterdir())


def test_real_mnist_matches_its_known_facts():
    (x, y), (xt, yt) = load_or_skip()
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y[:5].tolist() == [5, 0, 4, 1, 9] and yt[:5].tolist() == [7, 2, 1, 0, 4]
