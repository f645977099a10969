"""Which report leads a story: the one whose headline tells the event best, not merely the first in.

A story's lead gives its title, link and summary on the pages and in the feeds. Among the
visible members, the lead is the report closest in meaning to the others (the mean cosine of
its encoder vector with theirs: the centre of what the outlets say, so an aside or a partial
report does not lead), with a small credit for a headline that says more: its distinct
content words, names and figures (see `INFORMATIVE_CREDIT`). With one member, or all else
equal, the earliest report leads. The choice may change as reports come in; the story's id,
and so its Atom entry id, never does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from aggregator.pipeline.lemmas import content_lemmas

INFORMATIVE_CREDIT = 0.01  # per distinct content word of the headline: a tie-breaker, below any real gap in meaning
MAX_WORDS_CREDITED = 12  # longer headlines are not told apart by length
FIGURE = re.compile(r"\d")


def lead_of(titles: Sequence[str], vectors: Sequence[np.ndarray | None]) -> int:
    """The index of the leading report among a story's members, given in publication order."""
    if len(titles) < 2:
        return 0
    known = [v for v in vectors if v is not None]
    centre = _centrality(vectors) if len(known) == len(vectors) else [0.0] * len(titles)
    scores = [closeness + INFORMATIVE_CREDIT * informative_words(title) for closeness, title in zip(centre, titles, strict=True)]
    best = max(scores)
    return next(at for at, score in enumerate(scores) if score >= best - 1e-6)  # float16 vectors: closer is a tie


def informative_words(title: str) -> int:
    """Distinct content words of a headline, a figure counting as one more."""
    return min(len(set(content_lemmas(title))) + bool(FIGURE.search(title)), MAX_WORDS_CREDITED)


def _centrality(vectors: Sequence[np.ndarray | None]) -> list[float]:
    stacked = np.stack([v for v in vectors if v is not None])
    similarity = stacked @ stacked.T
    return [float((similarity[i].sum() - similarity[i, i]) / (len(stacked) - 1)) for i in range(len(stacked))]
