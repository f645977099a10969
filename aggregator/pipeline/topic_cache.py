"""The fitted topic model kept on disk, so that a start does not refit what an earlier one fitted.

`kept_model` returns the model stored under a key when the file holds that key, else fits
it (`fit`) and stores it. The key (`model_key`) is a hash of everything the fit reads: the
topics' config, the labelled examples, the editors' corrections, the version of the features
the caller asks for, this file format, the code of the modules that turn text into features and
fit the model, and the lemmatiser's version. One file per folder (`topic-model.npz`, plain
numpy arrays, no pickle): a changed input writes over it. A missing, stale, unreadable or
corrupt file means a fit, never a failure; a folder that cannot be written is logged and
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

from aggregator.pipeline import analysis, lemmas, logistic, topic_model, topic_rules, topic_text
from aggregator.pipeline.topic_model import LabelledText, LinearModel

if TYPE_CHECKING:
    from aggregator.settings import Settings, TopicSettings

log = logging.getLogger(__name__)

FILE_FORMAT = "1"  # of the arrays in the file; bump when they change
FILE_NAME = "topic-model.npz"
FIT_MODULES = (topic_model, logistic, topic_text, topic_rules, analysis, lemmas)  # their code decides the fit
MORPHOLOGY = ("pymorphy3", "pymorphy3-dicts-ru")  # their versions decide the lemmas


def model_folder(settings: Settings) -> Path:
    """`cache/` beside a SQLite database file; the user's cache folder for any other database."""
    url = make_url(settings.database.url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        return Path(database).parent / "cache"
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "aggregator"


def model_key(topics: Mapping[str, TopicSettings], examples: bytes, corrections: Iterable[LabelledText], features: str) -> str:
    """A hash of everything a fit reads (see the module's docstring)."""
    digest = hashlib.sha256()
    parts = [
        FILE_FORMAT.encode(),
        features.encode(),
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


def kept_model(folder: Path, key: str, fit: Callable[[], LinearModel | None]) -> LinearModel | None:
    """The model kept in `folder` under `key`, else `fit()` (kept there for the next start)."""
    path = folder / FILE_NAME
    found, model = read_model(path, key)
    if found:
        log.info("topic model read from %s", path)
        return model
    model = fit()
    write_model(path, key, model)
    return model


def read_model(path: Path, key: str) -> tuple[bool, LinearModel | None]:
    """(True, the model) when `path` holds a whole model stored under `key`; (False, None) otherwise."""
    try:
        with path.open("rb") as file, np.load(file, allow_pickle=False) as arrays:  # our handle: closed on any error
            if str(arrays["key"]) != key:
                return False, None
            if bool(arrays["empty"]):
                return True, None
            return True, _model(arrays)
    except FileNotFoundError:
        return False, None
    except Exception as exc:  # noqa: BLE001 - any unreadable file (truncated, foreign, old) is only a refit
        log.warning("topic model file %s is unreadable (%s: %s); fitting again", path, type(exc).__name__, exc)
        return False, None


def _model(arrays: Mapping[str, np.ndarray]) -> LinearModel:
    topics, names = tuple(arrays["topics"].tolist()), tuple(arrays["names"].tolist())
    coef, intercept, idf = arrays["coef"], arrays["intercept"], arrays["idf"]
    if coef.shape != (len(names), len(topics)) or intercept.shape != (len(topics),) or idf.shape != (len(names),):
        raise ValueError("arrays of mismatched shapes")
    return LinearModel(topics, {name: i for i, name in enumerate(names)}, names, tuple(idf.tolist()), coef, intercept)


def write_model(path: Path, key: str, model: LinearModel | None) -> None:
    """Store the model under `key`: a temporary file renamed over `path`. Failing to is logged, not raised."""
    arrays = {"key": np.array(key), "empty": np.array(model is None)}
    if model is not None:
        arrays |= {
            "topics": np.array(model.topics, dtype=str),
            "names": np.array(model.names, dtype=str),
            "idf": np.array(model.idf, dtype=np.float64),
            "coef": model.coef,
            "intercept": model.intercept,
        }
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
