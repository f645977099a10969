"""The fitted topic model kept on disk, so that a start does not refit what an earlier one fitted.

`kept_model` returns the model stored under a key when the file holds that key, else fits
it (`fit`) and stores it. The key (`model_key`) is a hash of everything the fit reads: the
topics' config, the labelled examples, the editors' corrections, the version of the features
the caller asks for, which encoder read the examples' meaning (and how), this file format, the
code of the modules that turn text into features and fit the model, and the lemmatiser's
version. One file per folder (`topic-model.npz`, plain numpy arrays, no pickle; the words-only
model and the one that also reads meaning): a changed input writes over it. A missing, stale,
unreadable or corrupt file means a fit, never a failure; a folder that cannot be written is logged and
the fit used. Writers write a temporary file and rename it, so a reader sees a whole file.

Where the folder is (`model_folder`): `cache/` beside a SQLite database file, else the user's
cache folder (`$XDG_CACHE_HOME/aggregator`, `~/.cache/aggregator`). What is fitted, and how,
is `topic_model`'s business.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.engine import make_url

from aggregator.pipeline import analysis, encoder, lemmas, logistic, topic_model, topic_rules, topic_text, topic_vectors
from aggregator.pipeline.topic_model import LabelledText, LinearModel, TopicModels

if TYPE_CHECKING:
    from aggregator.settings import Settings, TopicSettings

log = logging.getLogger(__name__)

FILE_FORMAT = "2"  # of the arrays in the file; bump when they change
FILE_NAME = "topic-model.npz"
# their code decides the fit (`encoder`: what of an example is encoded)
FIT_MODULES = (topic_model, logistic, topic_text, topic_rules, analysis, lemmas, topic_vectors, encoder)
MORPHOLOGY = ("pymorphy3", "pymorphy3-dicts-ru")  # their versions decide the lemmas


def model_folder(settings: Settings) -> Path:
    """`cache/` beside a SQLite database file; the user's cache folder for any other database."""
    url = make_url(settings.database.url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        return Path(database).parent / "cache"
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "aggregator"


def model_key(
    topics: Mapping[str, TopicSettings], examples: bytes, corrections: Iterable[LabelledText], features: str, meaning: str | None
) -> str:
    """A hash of everything a fit reads (see the module's docstring); `meaning`: the encoder's
    `topic_vectors.identity`, None when meaning is not read."""
    digest = hashlib.sha256()
    parts = [
        FILE_FORMAT.encode(),
        features.encode(),
        json.dumps(meaning).encode(),
        json.dumps([[slug, topic.model_dump(mode="json")] for slug, topic in topics.items()], ensure_ascii=False).encode(),
        examples,
        json.dumps([[c.title, c.summary, c.topic, list(c.also)] for c in corrections], ensure_ascii=False).encode(),
        *(Path(module.__file__).read_bytes() for module in FIT_MODULES if module.__file__),
        json.dumps([_version(name) for name in MORPHOLOGY]).encode(),
    ]
    for part in parts:  # each part's length first, so that no two different inputs run together
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def examples_bytes(examples: Iterable[LabelledText] | None) -> bytes:
    """What the examples hash on: the shipped file's bytes, or the given examples themselves."""
    if examples is None:
        return topic_model.SHIPPED_EXAMPLES.read_bytes()
    return json.dumps([[e.title, e.summary, e.topic, list(e.also)] for e in examples], ensure_ascii=False).encode()


def kept_model(folder: Path, key: str, fit: Callable[[], TopicModels]) -> TopicModels:
    """The models kept in `folder` under `key`, else `fit()` (kept there for the next start)."""
    path = folder / FILE_NAME
    models = read_model(path, key)
    if models is not None:
        log.info("topic model read from %s", path)
        return models
    models = fit()
    write_model(path, key, models)
    return models


def read_model(path: Path, key: str) -> TopicModels | None:
    """The models when `path` holds whole ones stored under `key`; None otherwise."""
    try:
        with path.open("rb") as file, np.load(file, allow_pickle=False) as arrays:  # our handle: closed on any error
            if str(arrays["key"]) != key:
                return None
            return TopicModels(_model(arrays, "words."), _model(arrays, "meaning."))
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - any unreadable file (truncated, foreign, old) is only a refit
        log.warning("topic model file %s is unreadable (%s: %s); fitting again", path, type(exc).__name__, exc)
        return None


def _model(arrays: Mapping[str, np.ndarray], prefix: str) -> LinearModel | None:
    if bool(arrays[prefix + "empty"]):
        return None
    topics, names = tuple(arrays[prefix + "topics"].tolist()), tuple(arrays[prefix + "names"].tolist())
    coef, intercept, idf = arrays[prefix + "coef"], arrays[prefix + "intercept"], arrays[prefix + "idf"]
    if coef.shape != (len(names), len(topics)) or intercept.shape != (len(topics),) or idf.shape != (len(names),):
        raise ValueError("arrays of mismatched shapes")
    centre, meaning = (
        (arrays[prefix + "meaning_centre"], arrays[prefix + "meaning_coef"]) if prefix + "meaning_coef" in arrays else (None, None)
    )
    if meaning is not None and (centre is None or meaning.shape != (*centre.shape, len(topics))):
        raise ValueError("meaning arrays of mismatched shapes")
    return LinearModel(topics, {name: i for i, name in enumerate(names)}, names, tuple(idf.tolist()), coef, intercept, centre, meaning)


def _arrays(model: LinearModel | None, prefix: str) -> dict[str, np.ndarray]:
    arrays = {prefix + "empty": np.array(model is None)}
    if model is not None:
        arrays |= {
            prefix + "topics": np.array(model.topics, dtype=str),
            prefix + "names": np.array(model.names, dtype=str),
            prefix + "idf": np.array(model.idf, dtype=np.float64),
            prefix + "coef": model.coef,
            prefix + "intercept": model.intercept,
        }
    if model is not None and model.meaning_centre is not None and model.meaning_coef is not None:
        arrays |= {prefix + "meaning_centre": model.meaning_centre, prefix + "meaning_coef": model.meaning_coef}
    return arrays


def write_model(path: Path, key: str, models: TopicModels) -> None:
    """Store the models under `key`: a temporary file renamed over `path`. Failing to is logged, not raised."""
    arrays = {"key": np.array(key), **_arrays(models.words, "words."), **_arrays(models.meaning, "meaning.")}
    try:
        _write_whole(path, arrays)
    except OSError as exc:
        log.warning("could not keep the topic model in %s (%s); the next start fits it again", path, exc)
    else:
        log.info("topic model kept in %s", path)


def _write_whole(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write a temporary file in the same folder and rename it over `path`: readers see a whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".topic-model-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
