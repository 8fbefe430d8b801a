"""MNIST, loaded like keras.datasets.mnist: from local IDX files when present, downloaded only when missing.

Lookup order for the folder: the `path` argument, else $FASTCONV_DATA, else ~/.cache/fastconv/mnist. Each file
may be gzipped (`name.gz`) or raw (`name`). The decompressed bytes are checked against the published SHA-256
digests, so a truncated or corrupt file is refused by name instead of yielding garbage.
"""
import gzip
import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

# SHA-256 of the decompressed IDX files, as distributed by Y. LeCun, C. Cortes and C. J. C. Burges.
FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# Mirrors serving `<name>.gz`, tried in order: $FASTCONV_MNIST_MIRRORS (space-separated base URLs; empty
# disables downloads) or the public ones.
PUBLIC_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
MIRRORS = os.environ["FASTCONV_MNIST_MIRRORS"].split() if "FASTCONV_MNIST_MIRRORS" in os.environ else PUBLIC_MIRRORS
IDX_DTYPES = {0x08: np.uint8}  # MNIST uses unsigned bytes only


class MNISTError(RuntimeError):
    """MNIST files are missing, corrupt or could not be downloaded."""


def data_dir(path=None):
    """The folder load_data reads: path, else $FASTCONV_DATA, else ~/.cache/fastconv/mnist."""
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get("FASTCONV_DATA"):
        return Path(os.environ["FASTCONV_DATA"]).expanduser()
    return Path.home() / ".cache" / "fastconv" / "mnist"


def _find(folder, name):
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(file, gzipped):
    try:
        if gzipped:
            with gzip.open(file, "rb") as f:
                return f.read()
        return file.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise MNISTError(f"MNIST file {file} is corrupt or truncated ({e}); delete it and load again") from None


def _verified(file, name, gzipped=None):
    """The decompressed bytes of file, checked against the published digest of `name`."""
    data = _read_bytes(file, file.suffix == ".gz" if gzipped is None else gzipped)
    digest = hashlib.sha256(data).hexdigest()
    if digest != FILES[name]:
        raise MNISTError(f"MNIST file {file} is corrupt or truncated: the SHA-256 of its decompressed bytes is "
                         f"{digest}, expected {FILES[name]}; delete it and load again")
    return data


def parse_idx(data, file="<bytes>"):
    """An IDX byte string -> ndarray, checking the header against the payload size."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise MNISTError(f"{file} is not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MNISTError(f"{file} is truncated: its IDX header needs {header} bytes, the file has {len(data)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape, dtype=np.int64))
    if len(data) != header + size:
        raise MNISTError(f"{file} is truncated or padded: shape {shape} needs {header + size} bytes, "
                         f"the file has {len(data)}")
    return np.frombuffer(data, IDX_DTYPES[data[2]], size, header).reshape(shape)


def _download(folder, name, quiet=False):
    """Fetches name.gz into folder: to a temporary file, checksum verified, then renamed into place."""
    if not MIRRORS:
        raise MNISTError("downloads are disabled (FASTCONV_MNIST_MIRRORS is empty)")
    folder.mkdir(parents=True, exist_ok=True)
    errors = []
    for mirror in MIRRORS:
        url = mirror + name + ".gz"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    done += len(chunk)
                    if not quiet:
                        pct = f"{100 * done // total:3d}%" if total else f"{done >> 10} KiB"
                        print(f"\rDownloading {url}: {pct}", end="", file=sys.stderr, flush=True)
            if not quiet:
                print(file=sys.stderr)
            _verified(Path(tmp), name, gzipped=True)
            target = folder / (name + ".gz")
            os.replace(tmp, target)
            return target
        except (OSError, MNISTError, ValueError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise MNISTError("; ".join(errors))


def load_data(path=None):
    """Load MNIST like keras.datasets.mnist.load_data.

    Parameters
    ----------
    path : str or Path, optional
        Folder holding the four IDX files (gzipped or raw). Default: $FASTCONV_DATA, else ~/.cache/fastconv/mnist.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).

    Raises
    ------
    MNISTError
        If a file is corrupt or truncated (naming it), or missing and cannot be downloaded (naming the files
        and the folder to put them in).
    """
    folder = data_dir(path)
    arrays = {}
    missing = [name for name in FILES if _find(folder, name) is None]
    if missing:
        try:
            for name in missing:
                _download(folder, name)
        except MNISTError as e:
            raise MNISTError(
                f"MNIST files missing from {folder}: {', '.join(n + '[.gz]' for n in missing)}. Put the four "
                f"standard IDX files there (gzipped or raw), or point FASTCONV_DATA or load_data(path=...) at "
                f"a folder that has them. The download failed: {e}") from None
    for name in FILES:
        file = _find(folder, name)
        arrays[name] = parse_idx(_verified(file, name), file)
    return ((arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]),
            (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]))
