"""Russian word vectors for story grouping: «подорожает» lands near «вырастет».

The vectors are Navec's news model (250K lower-case word forms, 300 dimensions, quantised),
shipped inside the `natasha` package, so nothing is fetched at run time. They are loaded
lazily, once per process, the first time a word is looked up (about half a second), and
each word's unit vector is cached. A word the model does not know is looked up by its
lemma, then by its longest known ending of five letters or more, so that compounds such as
«лжечиновники» still land near «чиновники». Without the vectors (package missing) every
look-up answers None and story grouping falls back on words alone.

This module only knows words; which words matter and how items compare is `story_profile`'s
and `story_evidence`'s.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import logging
import os
import tarfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DIMENSIONS = 300
MODEL_NAME = "navec_news_v1_1B_250K_300d_100q.tar"
MIN_ENDING = 5
_lock = threading.Lock()
_model: Vectors | bool | None = None  # False when the vectors cannot be loaded


@dataclass(frozen=True)
class Vectors:
    """Navec's product-quantised vectors, as stored in its tar file: each word's vector is
    `qdim` sub-vectors, each picked (by a byte in `indexes`) from 256 centroids in `codes`.

    Read here rather than with `navec.Navec.load`, which also precomputes similarity tables we
    never use and holds a 100 MB temporary while doing so; a word's index bytes are read from
    the file when it is first looked up (see `read_vectors`). Words are found by their hash in a
    sorted array (3 MB) instead of a dict of 250K strings (about 40 MB): hashes are taken in
    this process, so Python's per-process hash seed does not matter, and a 64-bit collision
    among 250K words is not worth guarding against.
    """

    hashes: np.ndarray  # sorted hash of each word, int64
    rows: np.ndarray  # the word's row of index bytes, in the order of `hashes`
    indexes: _Rows  # words x qdim bytes, read one row at a time
    codes: np.ndarray  # qdim x centroids x (dim / qdim), float32

    def row(self, word: str) -> int | None:
        """The word's row, or None for a word the model does not know."""
        key = hash(word)
        at = int(np.searchsorted(self.hashes, key))
        return int(self.rows[at]) if at < len(self.hashes) and self.hashes[at] == key else None

    def vector(self, row: int) -> np.ndarray:
        return self.codes[np.arange(self.codes.shape[0]), self.indexes.row(row)].reshape(-1)


@dataclass(frozen=True)
class _Rows:
    """Fixed-size rows of a file, read with `pread` on demand. Neither read whole (25 MB) nor
    memory-mapped: a mapping's page faults bring in the neighbouring pages too, and a few
    thousand words looked up at random left almost the whole 25 MB resident. `pread` names its
    offset, so threads and forked processes share the descriptor safely."""

    fd: int
    offset: int
    width: int

    def row(self, number: int) -> np.ndarray:
        data = os.pread(self.fd, self.width, self.offset + number * self.width)
        if len(data) != self.width:
            raise OSError(f"word vectors: row {number} is cut short")
        return np.frombuffer(data, np.uint8)


def model_path() -> Path:
    """Where the `natasha` package keeps the news vectors (found without importing it)."""
    spec = importlib.util.find_spec("natasha")
    if spec is None or spec.origin is None:
        raise OSError("the natasha package is not installed")
    return Path(spec.origin).resolve().parent / "data" / "emb" / MODEL_NAME


def read_vectors(path: Path) -> Vectors:
    """Navec's tar: `vocab.bin` (gzip: word count, per-word counts, then one word per line) and
    `pq.bin` (words, dim, qdim, centroids as uint32, then the indexes, then the centroids)."""
    with tarfile.open(path) as tar:
        with gzip.GzipFile(fileobj=tar.extractfile("vocab.bin")) as vocab:
            (size,) = np.frombuffer(vocab.read(4), np.uint32)
            vocab.read(4 * int(size))  # how often each word was seen: not needed
            lines = io.TextIOWrapper(vocab, encoding="utf-8", newline="\n")  # one word at a time, never a list of 250K
            hashes = np.fromiter((hash(line.rstrip("\n")) for line in lines), np.int64, count=int(size))
        member = tar.getmember("pq.bin")
        pq = tar.extractfile(member)
        if pq is None or not member.isreg():
            raise OSError(f"{path}: pq.bin is not a regular file")
        count, dim, qdim, centroids = (int(v) for v in np.frombuffer(pq.read(16), np.uint32))
        if count != size:
            raise OSError(f"{path}: {size} words but {count} rows of vectors")
        indexes = _Rows(os.open(path, os.O_RDONLY | os.O_CLOEXEC), member.offset_data + 16, qdim)  # open for the process's life
        pq.seek(16 + count * qdim)
        codes = np.frombuffer(pq.read(), np.float32).reshape(qdim, centroids, dim // qdim)
    order = np.argsort(hashes, kind="stable")
    return Vectors(hashes[order], order.astype(np.int32), indexes, codes)


def _vectors() -> Vectors | None:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = _load()
    return _model or None


def _load() -> Vectors | bool:
    try:
        return read_vectors(model_path())
    except (OSError, KeyError, ValueError) as exc:
        log.warning("word vectors unavailable, story grouping uses words only: %s", exc)
        return False


def available() -> bool:
    """Whether the word vectors could be loaded."""
    return _vectors() is not None


def _known(word: str) -> np.ndarray | None:
    model = _vectors()
    row = model.row(word) if model is not None else None
    if row is None:
        return None
    vector = np.asarray(model.vector(row), dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else None


@lru_cache(maxsize=20_000)  # about 30 MB at most: the words of two days of regional news
def vector(surface: str, lemma: str) -> np.ndarray | None:
    """Unit vector of a lower-case word: its own form, its lemma, or its longest known ending."""
    for word in (surface, lemma):
        found = _known(word)
        if found is not None:
            return found
    for start in range(1, len(surface) - MIN_ENDING + 1):
        found = _known(surface[start:])
        if found is not None:
            return found
    return None
