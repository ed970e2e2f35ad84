"""A synthetic translation task with planted memorization targets (seed notes §4, CPU experiment).

The "languages" are pseudo-words: source words use the consonants ``bdgkmnprst``, target words
``cfhjlqvwxz``, so which language a sentence is in is decided by its words (the stand-in for the
paper's fastText language ID). A translation maps every source word through a fixed lexicon and
then applies a local reordering rule (each adjacent pair of words swaps: 1 2 3 4 5 → 2 1 4 3 5),
so the task is learnable and a model that generalizes needs no memorization. Planted noise, as in
the notes: *misaligned* pairs (the target is the translation of another source of the same length),
*copies* (target = source) and *boilerplate* (several sources share one fixed target).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from memlens.errors import DataError

SOURCE_CONSONANTS, TARGET_CONSONANTS, VOWELS = "bdgkmnprst", "cfhjlqvwxz", "aeiou"
KINDS = ("clean", "misaligned", "copy", "boilerplate")


@dataclass(frozen=True)
class PairSet:
    """Aligned (source, target) sentence pairs, addressed by id 0 … N-1 for the engine.

    ``references`` are the clean translations (the rule's output), used where a measure needs to
    know what a correct output is (natural hallucinations); ``kinds`` says which pairs are noise.
    """

    name: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    references: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None

    def __post_init__(self):
        check_pairs(self.sources, self.targets, what=self.name)
        for label, extra in (("references", self.references), ("kinds", self.kinds)):
            if extra is not None and len(extra) != len(self.sources):
                raise DataError(
                    f"{self.name}: {len(self.sources)} sources but {len(extra)} {label}; every pair needs one."
                )

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def n_examples(self) -> int:
        return len(self.sources)

    def summary(self) -> dict:
        out = {"name": self.name, "pairs": len(self)}
        if self.kinds is not None:
            out["kinds"] = {k: int(sum(x == k for x in self.kinds)) for k in KINDS}
        return out

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for s, t in zip(self.sources, self.targets, strict=True):
            for part in (s.encode(), t.encode()):
                h.update(len(part).to_bytes(8, "little"))
                h.update(part)
        return h.hexdigest()

    def with_targets(self, targets, name: str) -> PairSet:
        """The same sources (and references, kinds) with other targets, e.g. a teacher's outputs."""
        return PairSet(name, self.sources, tuple(targets), self.references, self.kinds)

    def subset(self, ids) -> PairSet:
        ids = list(ids)
        pick = lambda xs: None if xs is None else tuple(xs[i] for i in ids)  # noqa: E731
        return PairSet(self.name, pick(self.sources), pick(self.targets), pick(self.references), pick(self.kinds))


def check_pairs(sources, targets, *, what: str = "the pairs") -> None:
    """Refuse pairs that cannot be trained on: no pairs, unequal counts, an empty source."""
    if len(sources) == 0:
        raise DataError(f"{what}: there are no sentence pairs; give at least one (source, target).")
    if len(sources) != len(targets):
        raise DataError(
            f"{what}: {len(sources)} sources but {len(targets)} targets; the two sides must align one to one."
        )
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        if not isinstance(s, str) or not isinstance(t, str):
            raise DataError(f"{what}: pair {i} is not two strings; got {type(s).__name__} and {type(t).__name__}.")
        if not s.strip():
            raise DataError(
                f"{what}: pair {i} has an empty source; drop the pair (a translation model cannot be "
                "trained or measured on an empty sentence)."
            )
    # an empty target is allowed: a teacher may translate a source to nothing, and that is data


@dataclass(frozen=True)
class TranslationRule:
    """The task's ground truth: a word lexicon plus the adjacent-pair swap."""

    lexicon: dict

    @property
    def source_words(self) -> list[str]:
        return list(self.lexicon)

    def translate(self, source: str) -> str:
        words = [self.lexicon[w] for w in source.split()]
        for i in range(0, len(words) - 1, 2):
            words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)

    def language(self, sentence: str) -> str | None:
        """``"source"`` or ``"target"`` when every word is from that side's alphabet, else None."""
        words = sentence.split()
        for name, consonants in (("source", SOURCE_CONSONANTS), ("target", TARGET_CONSONANTS)):
            if words and all(w[0] in consonants for w in words):
                return name
        return None


def _words(n: int, consonants: str, rng: np.random.Generator) -> list[str]:
    out: dict[str, None] = {}
    while len(out) < n:
        syllables = rng.integers(1, 4)
        out["".join(rng.choice(list(consonants)) + rng.choice(list(VOWELS)) for _ in range(syllables))] = None
    return list(out)


def make_task(
    n_pairs: int, *, vocab: int = 200, min_len: int = 5, max_len: int = 12,
    misaligned: float = 0.05, copies: float = 0.01, boilerplate: float = 0.005,
    n_test: int = 500, seed: int = 0,
) -> tuple[PairSet, PairSet, TranslationRule]:
    """Training pairs with planted noise, a clean test set, and the rule that generated them.

    Noise counts are rounded (at least one boilerplate group of 2 when ``boilerplate`` > 0);
    a misaligned target is the translation of another random source of the same length.
    """  # fmt: skip
    if n_pairs < 10 or not 2 <= min_len <= max_len:
        raise DataError(f"make_task needs >= 10 pairs and 2 <= min_len <= max_len; got {n_pairs}, {min_len}, {max_len}.")
    rng = np.random.default_rng(seed)
    lexicon = dict(zip(_words(vocab, SOURCE_CONSONANTS, rng), _words(vocab, TARGET_CONSONANTS, rng), strict=True))
    rule = TranslationRule(lexicon)
    src_words = rule.source_words

    def sentence(length=None):
        n = int(length or rng.integers(min_len, max_len + 1))
        return " ".join(rng.choice(src_words, n))

    sources = [sentence() for _ in range(n_pairs)]
    references = [rule.translate(s) for s in sources]
    targets, kinds = list(references), ["clean"] * n_pairs
    order = rng.permutation(n_pairs)
    n_mis, n_copy = round(misaligned * n_pairs), round(copies * n_pairs)
    n_boiler = max(2, round(boilerplate * n_pairs)) if boilerplate > 0 else 0
    mis, cop, boil = order[:n_mis], order[n_mis : n_mis + n_copy], order[n_mis + n_copy : n_mis + n_copy + n_boiler]
    for i in mis:
        targets[i], kinds[i] = rule.translate(sentence(len(sources[i].split()))), "misaligned"
    for i in cop:
        targets[i], kinds[i] = sources[i], "copy"
    fixed = rule.translate(sentence(max_len))
    for i in boil:
        targets[i], kinds[i] = fixed, "boilerplate"
    train = PairSet("synthetic-translation", tuple(sources), tuple(targets), tuple(references), tuple(kinds))
    test_sources = tuple(sentence() for _ in range(n_test))
    test_refs = tuple(rule.translate(s) for s in test_sources)
    test = PairSet("synthetic-translation-test", test_sources, test_refs, test_refs, ("clean",) * n_test)
    return train, test, rule
