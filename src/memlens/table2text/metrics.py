"""Table-to-text metrics as pure functions: corpus BLEU-4 (sacrebleu) and slot coverage.

BLEU-4 is sacrebleu's ``corpus_bleu`` (13a tokenization, one reference per hypothesis), the
number PromptMize and the WikiBio literature report. Slot coverage is the share of a table's values
that appear in the generated text (case-insensitive, whole-token match), the "content
selection" side BLEU misses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from memlens.errors import DataError, MemlensError


def bleu4(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 in [0, 100] of hypotheses against one reference each (sacrebleu, 13a).

    >>> round(bleu4(["the cat sat on the"], ["the cat sat on the mat"]), 2)  # 100 * exp(1 - 6/5)
    81.87
    """
    try:
        import sacrebleu
    except ImportError:
        raise MemlensError(
            "BLEU-4 needs sacrebleu: pip install 'memlens[lm]' (or pip install sacrebleu)."
        ) from None
    if len(hypotheses) != len(references):
        raise DataError(
            f"{len(hypotheses)} hypotheses but {len(references)} references; give one reference "
            "per hypothesis, in the same order."
        )
    if not hypotheses:
        raise DataError("BLEU needs at least one hypothesis.")
    # force: our references are tokenized on purpose (" ."); the warning says nothing we do not know
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], force=True).score)


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def slot_coverage(hypotheses: Sequence[str], tables: Sequence[Mapping[str, str]]) -> np.ndarray:
    """(N,) float: for each hypothesis, the share of its table's values realized in it.

    A value counts as realized when its word tokens appear contiguously in the hypothesis'
    word tokens (case-insensitive), so "Anna" is not found inside "Annabel".

    >>> slot_coverage(["Anna Berg is a painter ."], [{"name": "Anna Berg", "occupation": "lawyer"}]).tolist()
    [0.5]
    """
    if len(hypotheses) != len(tables):
        raise DataError(f"{len(hypotheses)} hypotheses but {len(tables)} tables; give one table each.")
    out = np.zeros(len(tables))
    for i, (hyp, table) in enumerate(zip(hypotheses, tables, strict=True)):
        if not table:
            raise DataError(f"Table {i} is empty; slot coverage needs at least one slot.")
        words = _tokens(hyp)
        found = 0
        for value in table.values():
            v = _tokens(str(value))
            found += bool(v) and any(words[s : s + len(v)] == v for s in range(len(words) - len(v) + 1))
        out[i] = found / len(table)
    return out
