"""Russian word vectors for story grouping: «подорожает» lands near «вырастет».

The vectors are Navec's news model (250K lower-case word forms, 300 dimensions, quantised),
shipped inside the `natasha` package, so nothing is fetched at run time. They are loaded
lazily, once per process, the first time a word is looked up (about half a second), and
each word's unit vector is cached. A word the model does not know is looked up by its
lemma, then by its longest known ending of five letters or more, so that compounds such as
«лжечиновники» still land near «чиновники». Without the vectors (package missing) every
look-up answers None and story grouping falls back on words alone.

This module only knows words; which words matter and how items compare is cluster.py's.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DIMENSIONS = 300
MODEL_NAME = "navec_news_v1_1B_250K_300d_100q.tar"
MIN_ENDING = 5
_lock = threading.Lock()
_model = None  # navec.Navec once loaded; False when it cannot be loaded


def model_path() -> Path:
    """Where the `natasha` package keeps the news vectors."""
    import natasha

    return Path(natasha.__file__).resolve().parent / "data" / "emb" / MODEL_NAME


def _navec():  # noqa: ANN202 - navec.Navec, or None when the vectors are not installed
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = _load()
    return _model or None


def _load():  # noqa: ANN202
    try:
        from navec import Navec

        return Navec.load(str(model_path()))
    except (ImportError, OSError) as exc:
        log.warning("word vectors unavailable, story grouping uses words only: %s", exc)
        return False


def available() -> bool:
    """Whether the word vectors could be loaded."""
    return _navec() is not None


@lru_cache(maxsize=50_000)
def _known(word: str) -> np.ndarray | None:
    model = _navec()
    if model is None or word not in model.vocab.word_ids:
        return None
    vector = np.asarray(model[word], dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else None


@lru_cache(maxsize=50_000)
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
