"""Reproduction: memorization inherited through sequence-level knowledge distillation (Dankers & Raunak).

A synthetic translation task (:mod:`memlens.seq2seq.task`: a 200-word lexicon plus an adjacent-word
swap, sentences of 5–12 words) made one-to-many as real translation is: a source word translates
to 0, 1 or 2 target words (``--fertility``), half the source words have two senses drawn 60/40 in
each reference (``--ambiguous``, ``--sense-weights``), and every two clean pairs share a source
with independently drawn references (``--repeats``), so the corpus itself shows that a source has
several translations. Planted noise: 5% misaligned pairs (targets of any length), 1% copies, 0.5%
sharing one boilerplate target. A teacher (tiny BART, d_model 128, 2+2 layers) is trained on the
pairs; its greedy (or ``--beams``) translations of the training sources are the distillation
corpus (written to ``OUT/kd/`` and read back through the alignment check) — one consistent
translation per source, the reduced multimodality of SeqKD; a student (d_model 128, 1+1 layers)
is trained on it and a baseline of the same size on the original pairs. Adaptive-SeqKD fine-tunes
the teacher on the pairs where its translation has chrF > 90 and confidence > 0.9 (sources > 5
words), regenerates the corpus and trains a second student. Every model is measured on the
training pairs against the corpus targets (:class:`memlens.seq2seq.trainer.Seq2SeqTrainer`:
replication, extractive memorization, oscillatory / natural hallucinations, chrF) and on a test
set drawn like the corpus (corpus chrF). Counterfactual memorization comes from ``--cm-models``
student-size models on random halves through the engine (:func:`memlens.engine.run_design`,
resumable under OUT/cm). The first version of the task (one word, one sense, unique sources,
misaligned targets of the source's length, student d_model 64, adaptive lr 3e-4 for 1 epoch) is
``--fertility 0 1 0 --ambiguous 0 --repeats 1 --misaligned-length same --student-d-model 64
--adaptive-lr 3e-4 --adaptive-epochs 1``.

Pass (seed notes §4): (a) mean counterfactual memorization of misaligned pairs >= 0.3 and of clean
pairs <= 0.1; (b) student extractive memorization >= 1.2 x baseline and student replication >=
baseline; (c) the Adaptive-SeqKD student has lower extractive memorization and no more
hallucinations than the plain student, with test chrF within 1 point.

    python experiments/seqkd.py            # ~1.5 h on one shared core
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

RATES = ("replicated", "extractive", "oscillatory", "natural")


def interval(values, *, seed: int = 0, resamples: int = 1000) -> list[float]:
    """Mean and 95% bootstrap percentile interval over pairs."""
    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (resamples, len(v)))].mean(1)
    return [float(v.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]


def _stage(directory: Path, trainer, train_fn):
    """A model saved under ``directory`` (trained by ``train_fn`` the first time): resumable stages."""
    from transformers import BartForConditionalGeneration

    if (directory / "config.json").exists():
        model = BartForConditionalGeneration.from_pretrained(directory)
        model.eval()
        return model
    model = train_fn()
    model.save_pretrained(directory)
    return model


def summarize(trainer, model, train, test, kinds) -> dict:
    obs, outputs = trainer.observe(model, train)
    test_out, _ = trainer.translate(model, test.sources)
    from memlens.seq2seq.measures import corpus_chrf

    out = {k: interval(obs[k]) for k in (*RATES, "chrf")}
    out["by_kind"] = {
        kind: {k: float(obs[k][kinds == kind].mean()) for k in RATES} for kind in np.unique(kinds)
    }
    out["test_chrf"] = corpus_chrf(test_out, test.targets)
    out["test_exact"] = float(np.mean([a == b for a, b in zip(test_out, test.targets, strict=True)]))
    return out, obs, outputs


def main(argv=None) -> dict:
    import torch

    from memlens.design import halves
    from memlens.engine import run_design
    from memlens.seq2seq import distill
    from memlens.seq2seq.model import train_tokenizer
    from memlens.seq2seq.task import make_task
    from memlens.seq2seq.trainer import Seq2SeqTrainer, counterfactual

    p = parser(__doc__)
    p.add_argument("--pairs", type=int, default=3000)
    p.add_argument("--teacher-epochs", type=int, default=40)
    p.add_argument("--student-epochs", type=int, default=30)
    p.add_argument("--cm-models", type=int, default=10)
    p.add_argument("--cm-epochs", type=int, default=30)
    p.add_argument("--adaptive-lr", type=float, default=1e-3)
    p.add_argument("--hq-chrf", type=float, default=90.0, help="Adaptive-SeqKD subset: teacher chrF above this")
    p.add_argument("--hq-confidence", type=float, default=0.9, help="… and teacher confidence above this")
    p.add_argument("--adaptive-epochs", type=int, default=2)
    p.add_argument("--fertility", type=float, nargs=3, default=(0.1, 0.7, 0.2), metavar=("P0", "P1", "P2"),
                   help="P(a source word translates to 0, 1, 2 target words)")
    p.add_argument("--ambiguous", type=float, default=0.5, help="fraction of source words with several senses")
    p.add_argument("--sense-weights", type=float, nargs="+", default=(0.6, 0.4))
    p.add_argument("--misaligned-length", choices=("same", "any"), default="any")
    p.add_argument("--repeats", type=int, default=2, help="clean pairs per source (each its own reference)")
    p.add_argument("--beams", type=int, default=1, help="beam size of the teacher's distillation decoding")
    p.add_argument("--teacher-d-model", type=int, default=128)
    p.add_argument("--teacher-layers", type=int, default=2)
    p.add_argument("--student-d-model", type=int, default=128)
    args = p.parse_args(argv)
    if args.smoke:  # untrained models: every pair qualifies for the fine-tune, so the code path runs
        args.pairs, args.teacher_epochs, args.student_epochs, args.cm_models, args.cm_epochs = 40, 2, 2, 2, 1
        args.hq_chrf, args.hq_confidence = -1.0, -1.0
        args.teacher_d_model, args.student_d_model = 32, 32
    subset = {"min_chrf": args.hq_chrf, "min_confidence": args.hq_confidence}
    out = args.out or Path("runs/seqkd" + ("-smoke" if args.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    started = time.time()

    task_options = {"fertility": tuple(args.fertility), "ambiguous": args.ambiguous,
                    "sense_weights": tuple(args.sense_weights), "misaligned_length": args.misaligned_length, "repeats": args.repeats}
    lengths = {"min_len": 4, "max_len": 6} if args.smoke else {}  # smoke: short, to fit 40 positions
    train, test, rule = make_task(args.pairs, n_test=20 if args.smoke else 500, seed=args.seed, **lengths,
                                  **task_options)  # fmt: skip
    kinds = np.array(train.kinds)
    tok = train_tokenizer([*train.sources, *train.targets], vocab_size=1024)
    # smoke: untrained models decode to the last position, so give them few positions
    common = {"language": rule.language, "max_positions": 40 if args.smoke else 64}
    teacher_trainer = Seq2SeqTrainer(tok, d_model=args.teacher_d_model, encoder_layers=args.teacher_layers,
                                     decoder_layers=args.teacher_layers, epochs=args.teacher_epochs, **common)  # fmt: skip
    student_trainer = Seq2SeqTrainer(tok, d_model=args.student_d_model, epochs=args.student_epochs, **common)
    models = out / "models"
    seconds = {}

    t = time.time()
    teacher = _stage(models / "teacher", teacher_trainer, lambda: teacher_trainer.fit(train, args.seed))
    teacher_summary, _, _ = summarize(teacher_trainer, teacher, train, test, kinds)
    # the distillation corpus: the teacher's translations of the training sources (greedy, or beam)
    teacher_outputs, teacher_conf = teacher_trainer.translate(teacher, train.sources, beams=args.beams)
    kd = distill.align(train, teacher_outputs)
    kd = distill.read_corpus(*distill.write_corpus(out / "kd", kd), train)  # the alignment check, on disk
    seconds["teacher"] = time.time() - t

    t = time.time()
    student = _stage(models / "student", student_trainer, lambda: student_trainer.fit(kd, args.seed + 1))
    student_summary, _, _ = summarize(student_trainer, student, train, test, kinds)
    baseline = _stage(models / "baseline", student_trainer, lambda: student_trainer.fit(train, args.seed + 1))
    baseline_summary, _, _ = summarize(student_trainer, baseline, train, test, kinds)
    student_vs_teacher = float(np.mean(student_trainer.observe(student, kd)[0]["replicated"]))
    seconds["student_baseline"] = time.time() - t

    t = time.time()
    hq_ids = distill.high_quality(train, teacher_outputs, teacher_conf, **subset)
    teacher_hq = _stage(models / "teacher_hq", teacher_trainer, lambda: distill.adaptive_teacher(
        teacher_trainer, teacher, train, teacher_outputs, teacher_conf, seed=args.seed + 2, lr=args.adaptive_lr,
        epochs=args.adaptive_epochs, **subset)[0])
    teacher_hq_summary, _, _ = summarize(teacher_trainer, teacher_hq, train, test, kinds)
    hq_outputs = teacher_trainer.translate(teacher_hq, train.sources, beams=args.beams)[0]
    kd_hq = distill.read_corpus(*distill.write_corpus(out / "kd_hq", distill.align(train, hq_outputs)), train)
    student_hq = _stage(models / "student_hq", student_trainer, lambda: student_trainer.fit(kd_hq, args.seed + 1))
    student_hq_summary, _, _ = summarize(student_trainer, student_hq, train, test, kinds)
    seconds["adaptive"] = time.time() - t

    t = time.time()
    cm_trainer = Seq2SeqTrainer(tok, d_model=args.student_d_model, epochs=args.cm_epochs, **common)
    design = halves(args.cm_models, len(train), seed=args.seed)
    store = run_design(train, design, cm_trainer, out / "cm", seed=args.seed, progress=not args.no_progress)
    cm = counterfactual(design.membership, {"token_prob": store.observation("token_prob")}).memorization
    cm_by_kind = {kind: float(np.nanmean(cm[kinds == kind])) for kind in np.unique(kinds)}
    seconds["counterfactual"] = time.time() - t

    ex = {k: s["extractive"][0] for k, s in (("S", student_summary), ("B", baseline_summary), ("S_hq", student_hq_summary))}
    hal = lambda s: s["oscillatory"][0] + s["natural"][0]  # noqa: E731
    checks = {
        "a_counterfactual": bool(cm_by_kind.get("misaligned", np.nan) >= 0.3 and cm_by_kind.get("clean", np.nan) <= 0.1),
        "b_inheritance": bool(ex["S"] >= 1.2 * ex["B"] and ex["S"] > 0
                              and student_summary["replicated"][0] >= baseline_summary["replicated"][0]),
        "c_adaptive": bool(ex["S_hq"] < ex["S"] and hal(student_hq_summary) <= hal(student_summary)
                           and abs(student_hq_summary["test_chrf"] - student_summary["test_chrf"]) <= 1.0),
    }  # fmt: skip
    results = {
        "experiment": "seqkd",
        "pairs": len(train), "kinds": train.summary()["kinds"], "seed": args.seed,
        "teacher_epochs": args.teacher_epochs, "student_epochs": args.student_epochs,
        "cm_models": args.cm_models, "cm_epochs": args.cm_epochs, "adaptive_lr": args.adaptive_lr,
        "adaptive_epochs": args.adaptive_epochs, **subset, "task": task_options, "beams": args.beams,
        "teacher_size": {"d_model": args.teacher_d_model, "layers": args.teacher_layers},
        "student_size": {"d_model": args.student_d_model, "layers": 1},
        "kd_equals_corpus": float(np.mean([a == b for a, b in zip(kd.targets, train.targets, strict=True)])),
        "note": "rates are [mean, 2.5%, 97.5%] over training pairs (bootstrap); measured against the corpus targets",
        "teacher": teacher_summary, "student": student_summary, "baseline": baseline_summary,
        "teacher_hq": teacher_hq_summary, "student_hq": student_hq_summary,
        "student_replicates_teacher": student_vs_teacher,
        "adaptive_subset": int(len(hq_ids)),
        "extractive_ratio_student_over_baseline": (ex["S"] / ex["B"]) if ex["B"] > 0 else None,
        "counterfactual_by_kind": cm_by_kind,
        "checks": checks, "pass": all(checks.values()),
        "seconds": {**seconds, "total": time.time() - started},
    }  # fmt: skip
    results = record(out, "seqkd", results)
    from memlens.report.seq2seq_section import write_seqkd_report

    write_seqkd_report(out)  # OUT/report.html: the tables above with their intervals
    return results


if __name__ == "__main__":
    main()
