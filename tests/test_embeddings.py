"""The word-vector file is read as Navec lays it out, and a damaged one is refused whole."""

import gzip
import io
import tarfile

import numpy as np
import pytest

from aggregator.pipeline.embeddings import read_vectors

WORDS = ["пожар", "огонь", "мост"]
DIM, QDIM, CENTROIDS = 4, 2, 256


def navec_tar(path, words=WORDS, rows=None):
    """A tiny file in Navec's format: gzip vocabulary, then product-quantised vectors."""
    rows = len(words) if rows is None else rows
    vocab = np.uint32(len(words)).tobytes() + np.ones(len(words), np.uint32).tobytes() + "\n".join(words).encode()
    codes = np.arange(QDIM * CENTROIDS * (DIM // QDIM), dtype=np.float32).reshape(QDIM, CENTROIDS, DIM // QDIM)
    indexes = np.array([[n, n + 10] for n in range(rows)], np.uint8)
    pq = np.array([rows, DIM, QDIM, CENTROIDS], np.uint32).tobytes() + indexes.tobytes() + codes.tobytes()
    with tarfile.open(path, "w") as tar:
        for name, data in (("vocab.bin", gzip.compress(vocab)), ("pq.bin", pq)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path, codes


def test_each_word_reads_its_own_centroids(tmp_path):
    path, codes = navec_tar(tmp_path / "navec.tar")
    vectors = read_vectors(path)
    for number, word in enumerate(WORDS):
        expected = np.concatenate([codes[0, number], codes[1, number + 10]])
        np.testing.assert_array_equal(vectors.vector(vectors.row(word)), expected)
    assert vectors.row("слон") is None


def test_a_file_whose_vectors_do_not_match_its_words_is_refused(tmp_path):
    path, _ = navec_tar(tmp_path / "navec.tar", rows=2)
    with pytest.raises(OSError, match="3 words but 2 rows"):
        read_vectors(path)
