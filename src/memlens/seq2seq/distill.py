"""Sequence-level knowledge distillation and Adaptive-SeqKD (Dankers & Raunak; seed notes §4).

SeqKD: a teacher trained on the corpus translates the training sources greedily (beam 1, or beam
search: :meth:`memlens.seq2seq.trainer.Seq2SeqTrainer.translate`); the
student is trained on (source, teacher output) and never sees the corpus targets; a baseline of
the student's size is trained on the corpus itself. Adaptive-SeqKD first fine-tunes the teacher
briefly on a high-quality subset of its own training data — pairs where its greedy translation
has chrF > ``min_chrf`` against the reference, confidence (geometric-mean token probability)
> ``min_confidence`` and a source of more than ``min_source_words`` words — then regenerates the
distillation corpus.

A distillation corpus on disk is two line-aligned text files (sources, teacher outputs);
:func:`read_corpus` refuses files that do not align, naming the file and line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memlens.errors import DataError
from memlens.seq2seq.task import PairSet


class AlignmentError(DataError):
    """A distillation corpus whose outputs do not line up with its sources."""


def distillation_corpus(trainer, teacher, pairs: PairSet, *, name: str = "seqkd",
                        beams: int = 1) -> tuple[PairSet, np.ndarray]:  # fmt: skip
    """The teacher's greedy (or ``beams``-wide beam) translations of ``pairs``' sources as a new
    PairSet (the student's training data), and the teacher's confidence in each."""
    outputs, confidence = trainer.translate(teacher, pairs.sources, beams=beams)
    return align(pairs, outputs, name=name), confidence


def align(pairs: PairSet, outputs, *, name: str = "seqkd", where: str = "the teacher's outputs") -> PairSet:
    """``pairs``' sources with ``outputs`` as targets; refuses a count mismatch."""
    outputs = list(outputs)
    if len(outputs) != len(pairs):
        raise AlignmentError(
            f"{where} has {len(outputs)} translations for {len(pairs)} sources; a distillation corpus "
            "needs exactly one output per source, in order. Regenerate it from the same sources."
        )
    return pairs.with_targets(outputs, name)


def write_corpus(directory, pairs: PairSet) -> tuple[Path, Path]:
    """``sources.txt`` and ``outputs.txt`` in ``directory``, one sentence a line (written atomically)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "sources.txt", directory / "outputs.txt"
    for path, lines in zip(paths, (pairs.sources, pairs.targets), strict=True):
        if any("\n" in x for x in lines):
            raise DataError(f"{path.name}: a sentence contains a newline; one sentence a line is required.")
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
        tmp.replace(path)
    return paths


def read_corpus(sources_path, outputs_path, pairs: PairSet, *, name: str = "seqkd") -> PairSet:
    """Read a distillation corpus back and check it is the one for ``pairs``: the same sources,
    line for line, and one output line per source."""
    sources_path, outputs_path = Path(sources_path), Path(outputs_path)
    src, out = _lines(sources_path), _lines(outputs_path)
    if len(src) != len(out):
        raise AlignmentError(
            f"{outputs_path} has {len(out)} lines but {sources_path} has {len(src)}; a distillation corpus "
            "needs one output line per source line. Regenerate the outputs from these sources."
        )
    if len(src) != len(pairs):
        raise AlignmentError(
            f"{sources_path} has {len(src)} lines; the training pairs have {len(pairs)} sources. This corpus "
            "was made from other data."
        )
    for i, (a, b) in enumerate(zip(src, pairs.sources, strict=True)):
        if a != b:
            raise AlignmentError(
                f"{sources_path} line {i + 1} is {a!r}, but training source {i + 1} is {b!r}; the corpus does "
                "not align with its sources (reordered or from other data). Regenerate it."
            )
    return align(pairs, out, name=name, where=str(outputs_path))


def _lines(path: Path) -> list[str]:
    """One sentence a line, split on newline characters only (not on other Unicode line breaks)."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines


def high_quality(pairs: PairSet, outputs, confidence, *, min_chrf: float = 90.0, min_confidence: float = 0.9,
                 min_source_words: int = 5) -> np.ndarray:  # fmt: skip
    """Ids of the Adaptive-SeqKD fine-tuning subset (``mix_data.py::finetuning_data``)."""
    from memlens.seq2seq.measures import chrf

    scores = chrf(list(outputs), list(pairs.targets))
    words = np.array([len(s.split()) for s in pairs.sources])
    keep = (scores > min_chrf) & (np.asarray(confidence) > min_confidence) & (words > min_source_words)
    return np.flatnonzero(keep)


def adaptive_teacher(trainer, teacher, pairs: PairSet, outputs, confidence, *, seed: int, lr: float,
                     epochs: int = 1, **subset):  # fmt: skip
    """A copy of ``teacher`` fine-tuned ``epochs`` on its high-quality subset; returns it and the ids."""
    import copy

    ids = high_quality(pairs, outputs, confidence, **subset)
    if len(ids) == 0:
        raise DataError("Adaptive-SeqKD found no high-quality pair to fine-tune on; lower min_chrf / min_confidence.")
    tuned = trainer.fit(pairs.subset(ids), seed, model=copy.deepcopy(teacher), epochs=epochs, lr=lr)
    return tuned, ids
