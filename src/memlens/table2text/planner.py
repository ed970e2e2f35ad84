"""A TF-IDF prompt planner: for each table, the reference of the most similar training table.

PromptMize's prompt planner (after P2G, Su et al. 2021) gives the generator a prototype sentence
that bridges the table–text topology gap. Here the prototype is the reference of a training table
with the same set of slots (the same topology, so the same sentence structure) when there is one,
the most similar such table by cosine similarity of TF-IDF vectors of the linearized tables (slot
names and values) among the few labelled pairs — values break ties, e.g. the same employer; a
training table never retrieves itself (``exclude_self``), so fine-tuning cannot learn to copy its
own answer from the prompt, and the prompt is delexicalized (the retrieved table's values become
``[slot]`` markers): a content plan, not another person's facts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from memlens.errors import DataError
from memlens.table2text.data import Example, check_table, linearize


class PromptPlanner:
    """Nearest training table by TF-IDF cosine similarity (scikit-learn's fit/transform contract).

    >>> from memlens.table2text.data import Example
    >>> train = [Example({"name": "Anna Berg", "occupation": "painter"}, "Anna Berg is a painter ."),
    ...          Example({"name": "Hugo Sato", "occupation": "lawyer", "employer": "Iris Academy"}, "x")]
    >>> p = PromptPlanner().fit(train)
    >>> p.nearest([{"name": "Hugo Dahl", "occupation": "lawyer", "employer": "Iris Academy"}]).tolist()
    [1]
    """

    def __init__(self, *, ngram_range: tuple[int, int] = (1, 2)):
        self.ngram_range = ngram_range

    def fit(self, examples: Sequence[Example]) -> PromptPlanner:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not examples:
            raise DataError("The prompt planner needs at least one training example.")
        for i, ex in enumerate(examples):
            check_table(ex.table, where=f"Training table {i}")
        self.references_ = [ex.reference for ex in examples]
        self.tables_ = [dict(ex.table) for ex in examples]
        # slot names count as words, so tables with the same slots (the same topology) look alike
        self.vectorizer_ = TfidfVectorizer(ngram_range=self.ngram_range, token_pattern=r"[^\s;=]+")
        self.matrix_ = self.vectorizer_.fit_transform([linearize(ex.table) for ex in examples])
        return self

    def nearest(self, tables: Sequence[Mapping[str, str]], *, exclude_self: bool = False) -> np.ndarray:
        """(N,) int: the index of each table's most similar training table (ties: lowest index):
        among training tables with the same set of slots if any, by TF-IDF cosine similarity.

        ``exclude_self``: ``tables`` are the training tables themselves, in order; table ``i``
        may not retrieve training example ``i`` (needs more than one training example).
        """
        if not hasattr(self, "matrix_"):
            raise DataError("Call fit(training examples) before nearest().")
        for i, t in enumerate(tables):
            check_table(t, where=f"Query table {i}")
        if exclude_self and len(tables) != self.matrix_.shape[0]:
            raise DataError(
                f"exclude_self needs the {self.matrix_.shape[0]} training tables as the queries; got "
                f"{len(tables)} tables."
            )
        if exclude_self and len(tables) < 2:
            raise DataError("exclude_self needs at least two training examples.")
        query = self.vectorizer_.transform([linearize(t) for t in tables])
        similarity = (query @ self.matrix_.T).toarray()  # (N, n_train) in [0, 1]; rows are L2-normalized
        # the same topology first: +1 outranks any cosine difference between tables
        topology = [frozenset(t) for t in tables]
        similarity += np.array([[q == frozenset(t) for t in self.tables_] for q in topology], dtype=float)
        if exclude_self:
            np.fill_diagonal(similarity, -np.inf)
        return similarity.argmax(axis=1)

    def prompts(
        self, tables: Sequence[Mapping[str, str]], *, exclude_self: bool = False, delexicalize: bool = True
    ) -> list[str]:
        """The retrieved reference sentence for each table, as a content plan: with
        ``delexicalize`` (the default) the retrieved table's own values are replaced by ``[slot]``
        markers, so the prompt gives the sentence's structure and phrasing but none of another
        person's values for the generator to copy by mistake.
        """
        found = self.nearest(tables, exclude_self=exclude_self)
        if not delexicalize:
            return [self.references_[i] for i in found]
        return [delexicalize_reference(self.references_[i], self.tables_[i]) for i in found]


def delexicalize_reference(reference: str, table: Mapping[str, str]) -> str:
    """Replace each of the table's values in its reference by ``[slot]`` (longest values first).

    >>> delexicalize_reference("Anna Berg is a painter from Porto .",
    ...                        {"name": "Anna Berg", "occupation": "painter", "birthplace": "Porto"})
    '[name] is a [occupation] from [birthplace] .'
    """
    for slot, value in sorted(table.items(), key=lambda kv: -len(str(kv[1]))):
        reference = re.sub(rf"(?<!\w){re.escape(str(value))}(?!\w)", f"[{slot}]", reference)
    return reference
