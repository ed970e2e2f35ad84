"""A synthetic translation task with planted memorization targets (seed notes §4, CPU experiment).

The "languages" are pseudo-words: source words use the consonants ``bdgkmnprst``, target words
``cfhjlqvwxz``, so which language a sentence is in is decided by its words (the stand-in for the
paper's fastText language ID). A translation maps every source word through a lexicon and then
applies a local reordering rule (each adjacent pair of source words swaps its translations:
1 2 3 4 5 → 2 1 4 3 5), so the task is learnable and a model that generalizes needs no
memorization. Planted noise, as in the notes: *misaligned* pairs (the target is the translation of
another source), *copies* (target = source) and *boilerplate* (several sources share one target).

Two options make the task more like real translation (both off by default, which reproduces the
first version of the task draw for draw):

* ``fertility`` — a source word translates to 0, 1 or 2 target words with these probabilities, so
  a target's length no longer equals its source's and a model must decide from content where a
  translation ends;
* ``ambiguous`` / ``sense_weights`` — a fraction of source words have several valid translations
  (senses), and each reference picks one at random with these weights. A model that fits the data
  distribution then has no single right answer on those words; greedy or beam decoding picks the
  most likely sense consistently — the "reduced multimodality" that makes a distillation corpus
  easier to fit than the references it replaces.
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
    """The task's ground truth: a word lexicon plus the adjacent-pair swap.

    ``lexicon`` maps a source word to its senses, each a tuple of 0, 1 or 2 target words;
    ``weights`` maps it to the probability of each sense (the first is the most probable, the mode).
    """

    lexicon: dict
    weights: dict

    @property
    def source_words(self) -> list[str]:
        return list(self.lexicon)

    def ambiguous_words(self) -> list[str]:
        """Source words with more than one sense."""
        return [w for w, senses in self.lexicon.items() if len(senses) > 1]

    def translate(self, source: str, rng: np.random.Generator | None = None) -> str:
        """The translation of ``source``: every word's sense drawn with ``rng`` by its weights, or
        the most probable sense of each word without ``rng`` (the mode translation)."""
        phrases = []
        for w in source.split():
            senses = self.lexicon[w]
            pick = 0 if rng is None or len(senses) == 1 else int(rng.choice(len(senses), p=self.weights[w]))
            phrases.append(senses[pick])
        for i in range(0, len(phrases) - 1, 2):  # the reordering acts on source positions
            phrases[i], phrases[i + 1] = phrases[i + 1], phrases[i]
        return " ".join(t for phrase in phrases for t in phrase)

    def language(self, sentence: str) -> str | None:
        """``"source"`` or ``"target"`` when every word is from that side's alphabet, else None."""
        words = sentence.split()
        for name, consonants in (("source", SOURCE_CONSONANTS), ("target", TARGET_CONSONANTS)):
            if words and all(w[0] in consonants for w in words):
                return name
        return None


def _words(n: int, consonants: str, rng: np.random.Generator, exclude=frozenset()) -> list[str]:
    out: dict[str, None] = {}
    while len(out) < n:
        syllables = rng.integers(1, 4)
        word = "".join(rng.choice(list(consonants)) + rng.choice(list(VOWELS)) for _ in range(syllables))
        if word not in exclude:
            out[word] = None
    return list(out)


def make_lexicon(
    vocab: int, rng: np.random.Generator, *, fertility=(0.0, 1.0, 0.0), ambiguous: float = 0.0,
    sense_weights=(0.6, 0.4), extra_rng: np.random.Generator | None = None,
) -> TranslationRule:
    """A random lexicon of ``vocab`` source words (see :func:`make_task` for the options).

    The one-word, one-sense lexicon is drawn from ``rng`` exactly as the first version of the task
    did; everything the options add (second words, other senses, which words get them) is drawn
    from ``extra_rng``, so turning the options off gives the old lexicon back.
    """
    fertility = np.asarray(fertility, dtype=float)
    weights = np.asarray(sense_weights, dtype=float)
    if fertility.shape != (3,) or (fertility < 0).any() or not np.isclose(fertility.sum(), 1.0):
        raise DataError(f"fertility gives P(0 words), P(1 word), P(2 words) and must sum to 1; got {tuple(fertility)}.")
    if not 0.0 <= ambiguous <= 1.0:
        raise DataError(f"ambiguous is a fraction of the source words, in [0, 1]; got {ambiguous}.")
    if weights.ndim != 1 or len(weights) < 2 or (weights <= 0).any() or not np.isclose(weights.sum(), 1.0):
        raise DataError(f"sense_weights needs >= 2 positive probabilities summing to 1; got {tuple(sense_weights)}.")
    if np.any(np.diff(weights) > 0):
        raise DataError(f"sense_weights must be in decreasing order (the first sense is the mode); got {tuple(weights)}.")
    src = _words(vocab, SOURCE_CONSONANTS, rng)
    first = _words(vocab, TARGET_CONSONANTS, rng)
    simple = fertility[1] == 1.0 and ambiguous == 0.0
    if simple:
        return TranslationRule({w: ((t,),) for w, t in zip(src, first, strict=True)}, {w: (1.0,) for w in src})
    rng2 = extra_rng if extra_rng is not None else np.random.default_rng()
    n_senses = len(weights)
    n_ambiguous = round(ambiguous * vocab)
    is_ambiguous = np.zeros(vocab, dtype=bool)
    is_ambiguous[rng2.permutation(vocab)[:n_ambiguous]] = True
    # a pool of fresh target words for second words and other senses, none equal to a first word
    pool = iter(_words(2 * vocab * n_senses, TARGET_CONSONANTS, rng2, exclude=frozenset(first)))
    lexicon, sense_p = {}, {}
    for i, w in enumerate(src):
        senses = []
        for k in range(n_senses if is_ambiguous[i] else 1):
            size = int(rng2.choice(3, p=fertility))
            if k > 0 and size == 0 and senses[0] == ():
                size = 1  # two empty senses would be one sense
            head = first[i] if k == 0 else next(pool)
            senses.append(() if size == 0 else (head,) if size == 1 else (head, next(pool)))
        lexicon[w] = tuple(senses)
        sense_p[w] = tuple(float(x) for x in weights) if is_ambiguous[i] else (1.0,)
    return TranslationRule(lexicon, sense_p)


def make_task(
    n_pairs: int, *, vocab: int = 200, min_len: int = 5, max_len: int = 12,
    misaligned: float = 0.05, copies: float = 0.01, boilerplate: float = 0.005,
    fertility=(0.0, 1.0, 0.0), ambiguous: float = 0.0, sense_weights=(0.6, 0.4),
    misaligned_length: str = "same", repeats: int = 1, n_test: int = 500, seed: int = 0,
) -> tuple[PairSet, PairSet, TranslationRule]:
    """Training pairs with planted noise, a clean test set, and the rule that generated them.

    ``fertility``: P(a source word translates to 0, 1, 2 target words); ``ambiguous``: the fraction
    of source words with ``len(sense_weights)`` senses, each reference (training and test) drawing
    a sense with ``sense_weights``; ``references`` hold the mode translation. A misaligned target is
    the translation of another random source of the same length (``misaligned_length="same"``) or
    of any length in [min_len, max_len] (``"any"``). ``repeats`` > 1 makes every run of ``repeats``
    clean pairs share one source, each with its own drawn reference: the corpus then shows that a
    source has several translations, which no model can fit by memorizing pairs (with unique
    sources a teacher learns each pair's senses by heart). Noise counts are rounded (at least one
    boilerplate group of 2 when ``boilerplate`` > 0). The defaults are the task's first version.
    """  # fmt: skip
    if n_pairs < 10 or not 2 <= min_len <= max_len:
        raise DataError(f"make_task needs >= 10 pairs and 2 <= min_len <= max_len; got {n_pairs}, {min_len}, {max_len}.")
    if repeats < 1:
        raise DataError(f"repeats is how many clean pairs share a source, >= 1; got {repeats}.")
    if misaligned_length not in ("same", "any"):
        raise DataError(f"misaligned_length is 'same' or 'any'; got {misaligned_length!r}.")
    rng = np.random.default_rng(seed)
    # the options draw from their own streams, so the defaults reproduce the first version's draws
    rule = make_lexicon(vocab, rng, fertility=fertility, ambiguous=ambiguous, sense_weights=sense_weights,
                        extra_rng=np.random.default_rng([seed, 2]))  # fmt: skip
    sense_rng = np.random.default_rng([seed, 1])
    sample = (lambda s: rule.translate(s, sense_rng)) if rule.ambiguous_words() else rule.translate
    src_words = rule.source_words

    def sentence(length=None):
        n = int(length or rng.integers(min_len, max_len + 1))
        return " ".join(rng.choice(src_words, n))

    sources = [sentence() for _ in range(n_pairs)]
    references = [rule.translate(s) for s in sources]
    targets, kinds = [sample(s) for s in sources], ["clean"] * n_pairs
    order = rng.permutation(n_pairs)
    n_mis, n_copy = round(misaligned * n_pairs), round(copies * n_pairs)
    n_boiler = max(2, round(boilerplate * n_pairs)) if boilerplate > 0 else 0
    mis, cop, boil = order[:n_mis], order[n_mis : n_mis + n_copy], order[n_mis + n_copy : n_mis + n_copy + n_boiler]
    for i in mis:
        length = len(sources[i].split()) if misaligned_length == "same" else None
        targets[i], kinds[i] = sample(sentence(length)), "misaligned"
    for i in cop:
        targets[i], kinds[i] = sources[i], "copy"
    fixed = sample(sentence(max_len))
    for i in boil:
        targets[i], kinds[i] = fixed, "boilerplate"
    clean = [i for i in range(n_pairs) if kinds[i] == "clean"]
    for g in range(0, len(clean) - repeats + 1 if repeats > 1 else 0, repeats):
        for i in clean[g + 1 : g + repeats]:  # drawn from the sense stream only: repeats=1 changes nothing
            sources[i], references[i] = sources[clean[g]], references[clean[g]]
            targets[i] = sample(sources[i])
    train = PairSet("synthetic-translation", tuple(sources), tuple(targets), tuple(references), tuple(kinds))
    test_sources = tuple(sentence() for _ in range(n_test))
    test_targets = tuple(sample(s) for s in test_sources)
    test_refs = tuple(rule.translate(s) for s in test_sources)
    test = PairSet("synthetic-translation-test", test_sources, test_targets, test_refs, ("clean",) * n_test)
    return train, test, rule
