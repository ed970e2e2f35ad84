"""Memorization detectors by granularity: verbatim, paraphrase and idea-level copying.

Zeng et al. (ACL 2024; seed notes §2) count a fine-tuned model's generation as memorized when a
plagiarism detector finds the training suffix in it *verbatim* (a common substring of ≥ 50
characters), as a *paraphrase*, or as the same *idea*; Ippolito et al. (INLG 2023; notes §3) show
that a verbatim filter leaves *approximate* memorization (BLEU ≥ 0.75 against the true suffix)
untouched. These are pure functions of strings, one generation compared with one reference
(``generated[i]`` with ``references[i]``); each returns an ``(N,)`` array:

- **verbatim**: :func:`exact_continuation` (the reference's words start the generation),
  :func:`longest_common_span` (longest run of words, or characters, found in both),
  :func:`verbatim_memorized` (Zeng's ≥ 50-character rule), and Ippolito's approximate memorization
  (:func:`approximate_bleu` over case-folded words, :func:`surface_edit_similarity` over
  characters with case and whitespace removed, so ALL CAPS or s p a c e d output still counts);
- **paraphrase**: :func:`paraphrase_memorized` — sentence-embedding cosine ≥
  :data:`PARAPHRASE_EMBEDDING_THRESHOLD` while the lexical overlap (case-folded word BLEU) stays
  below :data:`PARAPHRASE_LEXICAL_MAX`, i.e. the same meaning in other words;
- **idea-level**: :func:`slots` extracts a text's key entities (numbers, capitalized names, and
  phrases of a caller's lexicon), :func:`slot_recall` the fraction of the reference's slots that
  the generation states (matched on letters and digits only), :func:`idea_memorized`.

:func:`granularity` runs all three and labels each pair with the most literal level that fires.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

#: Zeng et al.'s verbatim rule: a common substring of at least this many characters (notes §2)
VERBATIM_MIN_CHARS = 50
#: Ippolito et al.'s approximate-memorization threshold on BLEU (notes §3), also applied to the
#: surface edit similarity
APPROXIMATE_THRESHOLD = 0.75
#: all-MiniLM-L6-v2 cosine at or above which two texts say the same thing. Calibrated on Faker PII
#: records: a fixed rewrite of a record ("The home of NAME is ADDRESS; to call them, dial PHONE.")
#: scores 0.886–0.958 against it, another person's record in the same template 0.31–0.65
#: (REPRODUCTIONS (h): generations that mix records average 0.64); 0.8 separates the two.
PARAPHRASE_EMBEDDING_THRESHOLD = 0.8
#: a paraphrase must stay below Ippolito's approximate-memorization BLEU, so that the verbatim /
#: approximate and paraphrase levels do not overlap
PARAPHRASE_LEXICAL_MAX = APPROXIMATE_THRESHOLD
#: idea-level memorization: at least half of the reference's key entities restated
IDEA_RECALL_THRESHOLD = 0.5
#: the levels :func:`granularity` assigns, most literal first
LEVELS = ("verbatim", "approximate", "paraphrase", "idea", "none")

_WORD = re.compile(r"\w+|[^\w\s]")
_NUMBER = re.compile(r"\d+(?:[-.,/:() ]?\d+)*")
_CAPITALIZED_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")
#: capitalized words that start sentences rather than name things
_NOT_NAMES = frozenset(
    "a an the this that these those it its he she his her they their we our i you your my in on "
    "at to of for by with from as and or but if then so yes no hi hello dear mr mrs ms dr".split()
)


def _batch(generated, references) -> tuple[list[str], list[str]]:
    for name, x in (("generated", generated), ("references", references)):
        if isinstance(x, str):
            raise ValueError(f"{name} must be a list of strings, got one string; wrap it: [{name}]")
    gen, ref = list(generated), list(references)
    if len(gen) != len(ref):
        raise ValueError(
            f"{len(gen)} generations but {len(ref)} references: pass one reference per generation."
        )
    for name, side in (("generated", gen), ("references", ref)):
        bad = next((i for i, s in enumerate(side) if not isinstance(s, str)), None)
        if bad is not None:
            raise ValueError(f"{name}[{bad}] is {type(side[bad]).__name__}, not a string")
    return gen, ref


def words(text: str) -> list[str]:
    """Word and punctuation tokens of a text (``\\w+`` runs and single other characters).

    Example:
        >>> words("Ann lives at 12 Elm St.")
        ['Ann', 'lives', 'at', '12', 'Elm', 'St', '.']
    """
    return _WORD.findall(text)


def surface(text: str) -> str:
    """The text case-folded with all whitespace removed: what survives lower case, ALL CAPS and
    added spaces (Ippolito et al.'s style-transfer prompts).

    Example:
        >>> surface("J O H N  lives") == surface("john LIVES")
        True
    """
    return re.sub(r"\s+", "", text.casefold())


def _key(text: str) -> str:
    """Letters and digits only, case-folded: how slots are matched (555-0101 = 555 0101)."""
    return re.sub(r"[\W_]+", "", text.casefold())


def longest_common_substring(a: Sequence, b: Sequence) -> int:
    """Length of the longest contiguous run that occurs in both sequences (characters of two
    strings, or tokens of two lists).

    Dynamic programming, one numpy step per element of ``a``: ``L[i, j] = L[i-1, j-1] + 1`` when
    ``a[i] == b[j]``, else 0; the answer is the largest ``L``.

    Example:
        >>> longest_common_substring("lives at 12 Elm", "at 12 Oak")
        6
    """
    if len(a) == 0 or len(b) == 0:
        return 0
    vocab: dict = {}
    ea = np.array([vocab.setdefault(x, len(vocab)) for x in a], dtype=np.int64)
    eb = np.array([vocab.setdefault(x, len(vocab)) for x in b], dtype=np.int64)
    prev = np.zeros(len(eb) + 1, dtype=np.int64)
    best = 0
    for x in ea:
        cur = np.zeros_like(prev)
        cur[1:] = np.where(eb == x, prev[:-1] + 1, 0)
        best = max(best, int(cur.max()))
        prev = cur
    return best


def exact_continuation(generated: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(N,) bool: the reference's words are the generation's first words, exactly (case kept).

    Example:
        >>> exact_continuation(["12 Elm St. and more", "12 elm St."], ["12 Elm St.", "12 Elm St."]).tolist()
        [True, False]
    """
    gen, ref = _batch(generated, references)
    out = []
    for g, r in zip(gen, ref, strict=True):
        rw = words(r)
        out.append(bool(rw) and words(g)[: len(rw)] == rw)
    return np.array(out, dtype=bool)


def longest_common_span(
    generated: Sequence[str], references: Sequence[str], *, unit: str = "word"
) -> np.ndarray:
    """(N,) int64: longest run of words (``unit="word"``) or characters (``"char"``) that the
    generation shares verbatim with its reference."""
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
    gen, ref = _batch(generated, references)
    split = words if unit == "word" else (lambda s: s)
    return np.array([longest_common_substring(split(g), split(r)) for g, r in zip(gen, ref, strict=True)],
                    dtype=np.int64)  # fmt: skip


def verbatim_memorized(generated: Sequence[str], references: Sequence[str], *,
                       min_chars: int = VERBATIM_MIN_CHARS) -> np.ndarray:  # fmt: skip
    """(N,) bool: Zeng et al.'s verbatim rule — a common substring of at least ``min_chars``
    characters, or the whole (whitespace-stripped) reference when it is shorter than that."""
    if min_chars < 1:
        raise ValueError(f"min_chars must be >= 1, got {min_chars}")
    gen, ref = _batch(generated, references)
    span = longest_common_span(gen, ref, unit="char")
    need = np.array([max(1, min(min_chars, len(r.strip()))) for r in ref])
    return span >= need


def approximate_bleu(generated: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(N,) sentence BLEU of the case-folded words (Ippolito et al.'s approximate memorization
    measure; :func:`memlens.lm.extraction.bleu`); 0 where the reference has no words."""
    from memlens.lm.extraction import bleu

    gen, ref = _batch(generated, references)
    out = np.zeros(len(gen))
    ok = [i for i, r in enumerate(ref) if words(r)]
    if ok:
        out[ok] = bleu(
            [words(gen[i].casefold()) for i in ok], [words(ref[i].casefold()) for i in ok]
        )
    return out


def surface_edit_similarity(generated: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(N,) character edit similarity of :func:`surface` forms, in [0, 1]: insensitive to case
    and spacing, so a style-transferred copy scores like the copy."""
    from memlens.lm.extraction import edit_similarity

    gen, ref = _batch(generated, references)
    if not gen:
        return np.zeros(0)
    return edit_similarity([surface(g) for g in gen], [surface(r) for r in ref])


def approximately_memorized(generated: Sequence[str], references: Sequence[str], *,
                            threshold: float = APPROXIMATE_THRESHOLD) -> np.ndarray:  # fmt: skip
    """(N,) bool: case-folded BLEU or surface edit similarity at least ``threshold``."""
    return (approximate_bleu(generated, references) >= threshold) | (
        surface_edit_similarity(generated, references) >= threshold
    )


def paraphrase_memorized(generated: Sequence[str], references: Sequence[str], *, similarity=None,
                         embedding_threshold: float = PARAPHRASE_EMBEDDING_THRESHOLD,
                         lexical_max: float = PARAPHRASE_LEXICAL_MAX) -> np.ndarray:  # fmt: skip
    """(N,) bool: the same meaning in other words — embedding cosine ≥ ``embedding_threshold`` and
    case-folded word BLEU < ``lexical_max``.

    Args:
        similarity: (N,) precomputed cosines (e.g. :func:`memlens.lm.embedding.embedding_similarity`);
            computed with the bundled all-MiniLM-L6-v2 encoder when None.
    """
    gen, ref = _batch(generated, references)
    if similarity is None:
        from memlens.lm.embedding import embedding_similarity

        similarity = embedding_similarity(gen, ref) if gen else np.zeros(0)
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.shape != (len(gen),):
        raise ValueError(
            f"similarity must have shape ({len(gen)},), one cosine per pair; got {similarity.shape}"
        )
    return (similarity >= embedding_threshold) & (approximate_bleu(gen, ref) < lexical_max)


def slots(text: str, *, lexicon: Iterable[str] = ()) -> set[str]:
    """A text's key entities, case-folded letters and digits only: numbers (separators dropped),
    capitalized names (runs of capitalized words, sentence-starting function words removed, a
    lone capitalized word that opens a sentence left out as any word) and
    the ``lexicon`` phrases it contains (case-insensitive, whole words).

    Example:
        >>> sorted(slots("The nurse Ann Lee lives at 12 Elm St.", lexicon=["nurse"]))
        ['12', 'annlee', 'elmst', 'nurse']
    """
    found = set()
    for m in _NUMBER.finditer(text):
        found.add(_key(m.group()))
    for m in _CAPITALIZED_RUN.finditer(text):
        run = m.group().split()
        sentence_start = (
            not text[: m.start()].strip() or text[: m.start()].rstrip()[-1] in ".!?:;\n"
        )
        while run and run[0].casefold().strip("'’-") in _NOT_NAMES:
            run, sentence_start = run[1:], False
        # one capitalized word opening a sentence is any word ("Policy needs …"), not a name
        if run and not (sentence_start and len(run) == 1):
            found.add(_key(" ".join(run)))
    folded = text.casefold()
    for phrase in lexicon:
        p = phrase.strip()
        if p and re.search(r"(?<!\w)" + re.escape(p.casefold()) + r"(?!\w)", folded):
            found.add(_key(p))
    found.discard("")
    return found


def slot_recall(
    generated: Sequence[str], references: Sequence[str], *, lexicon: Iterable[str] = ()
) -> np.ndarray:
    """(N,) fraction of each reference's :func:`slots` that its generation states; NaN where the
    reference has none.

    A slot is stated when its letters and digits occur, in order and contiguous, among the
    generation's letters and digits (case, spacing and punctuation ignored, so a style-transferred
    statement counts). A short number can thus match inside a longer one: recall is an upper bound.
    """
    gen, ref = _batch(generated, references)
    lexicon = tuple(lexicon)
    out = np.full(len(gen), np.nan)
    for i, (g, r) in enumerate(zip(gen, ref, strict=True)):
        keys = slots(r, lexicon=lexicon)
        if keys:
            sg = _key(g)
            out[i] = sum(k in sg for k in keys) / len(keys)
    return out


def idea_memorized(generated: Sequence[str], references: Sequence[str], *, lexicon: Iterable[str] = (),
                   threshold: float = IDEA_RECALL_THRESHOLD) -> np.ndarray:  # fmt: skip
    """(N,) bool: slot recall ≥ ``threshold`` (False where the reference has no slots)."""
    recall = slot_recall(generated, references, lexicon=lexicon)
    return np.nan_to_num(recall, nan=0.0) >= threshold


def granularity(generated: Sequence[str], references: Sequence[str], *, similarity=None,
                lexicon: Iterable[str] = ()) -> dict[str, np.ndarray]:  # fmt: skip
    """All detectors on each pair, and ``level``: the most literal of :data:`LEVELS` that fires.

    Returns:
        dict of (N,) arrays: ``exact_continuation``, ``longest_common_span`` (words),
        ``longest_common_chars``, ``verbatim``, ``approximate_bleu``, ``surface_edit_similarity``,
        ``approximate``, ``embedding_similarity``, ``paraphrase``, ``slot_recall``, ``idea`` and
        ``level`` (str).
    """
    gen, ref = _batch(generated, references)
    if similarity is None:
        from memlens.lm.embedding import embedding_similarity

        similarity = embedding_similarity(gen, ref) if gen else np.zeros(0)
    similarity = np.asarray(similarity, dtype=np.float64)
    lexicon = tuple(lexicon)
    verbatim = verbatim_memorized(gen, ref)
    approximate = approximately_memorized(gen, ref)
    paraphrase = paraphrase_memorized(gen, ref, similarity=similarity)
    recall = slot_recall(gen, ref, lexicon=lexicon)
    idea = np.nan_to_num(recall, nan=0.0) >= IDEA_RECALL_THRESHOLD
    level = np.select([verbatim, approximate, paraphrase, idea], list(LEVELS[:4]), default="none")
    return {
        "exact_continuation": exact_continuation(gen, ref),
        "longest_common_span": longest_common_span(gen, ref),
        "longest_common_chars": longest_common_span(gen, ref, unit="char"),
        "verbatim": verbatim,
        "approximate_bleu": approximate_bleu(gen, ref),
        "surface_edit_similarity": surface_edit_similarity(gen, ref),
        "approximate": approximate,
        "embedding_similarity": similarity,
        "paraphrase": paraphrase,
        "slot_recall": recall,
        "idea": idea,
        "level": level.astype(str),
    }
