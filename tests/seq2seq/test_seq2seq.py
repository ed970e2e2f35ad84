"""Encoder–decoder models on the engine: the untrained control, resume through run_design, the
distillation corpus's alignment check, and the SeqKD experiment's smoke run."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("sacrebleu")

from dying_trainer import DiesAfter, Killed  # noqa: E402
from memlens.design import halves  # noqa: E402
from memlens.engine import run_design  # noqa: E402
from memlens.errors import DataError  # noqa: E402
from memlens.seq2seq import distill  # noqa: E402
from memlens.seq2seq.model import train_tokenizer  # noqa: E402
from memlens.seq2seq.task import PairSet, make_task  # noqa: E402
from memlens.seq2seq.trainer import OBSERVATIONS, Seq2SeqTrainer, counterfactual  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = {"d_model": 16, "heads": 2, "max_positions": 40}  # few positions: an untrained decoder runs to the last


@pytest.fixture(scope="module")
def task():
    train, test, rule = make_task(24, min_len=5, max_len=7, n_test=8, seed=3)
    tok = train_tokenizer([*train.sources, *train.targets], vocab_size=400)
    return train, test, rule, tok


def test_untrained_models_replicate_nothing_and_memorize_nothing(task):
    train, _, rule, tok = task
    # lr ~ 0 and one seed for all: the models stay as initialized, so being trained on a pair
    # cannot change anything about it
    trainer = Seq2SeqTrainer(tok, **TINY, epochs=1, lr=1e-12, language=rule.language)
    design = halves(4, len(train), seed=0)
    from memlens.train.base import model_seeds

    obs = trainer.fit_observe(train, design.membership, model_seeds(0, 1) * 4)
    assert set(obs) == set(OBSERVATIONS)
    assert all(v.shape == (4, len(train)) and v.dtype == np.float32 for v in obs.values())
    assert obs["replicated"].sum() == 0 and obs["extractive"].sum() == 0
    assert np.isnan(obs["prefix_ratio"]).all()
    assert ((obs["token_prob"] > 0) & (obs["token_prob"] < 0.05)).all()  # near 1/vocab
    cm = counterfactual(design.membership, obs).memorization
    assert np.abs(cm).max() < 1e-6


def test_run_design_resumes_to_identical_arrays(task, tmp_path):
    train, _, rule, tok = task
    trainer = Seq2SeqTrainer(tok, **TINY, epochs=2, language=rule.language)
    design = halves(2, len(train), seed=1)
    whole = run_design(train, design, trainer, tmp_path / "whole", shard_size=1, progress=False)
    with pytest.raises(Killed):
        run_design(train, design, DiesAfter(trainer, 1), tmp_path / "resumed", shard_size=1, progress=False)
    resumed = run_design(train, design, trainer, tmp_path / "resumed", shard_size=1, progress=False)
    for name in OBSERVATIONS:
        np.testing.assert_array_equal(whole.observation(name), resumed.observation(name))


def test_distillation_corpus_must_align(task, tmp_path):
    train = task[0]
    kd = distill.align(train, [t.upper() for t in train.targets])
    src, out = distill.write_corpus(tmp_path, kd)
    assert distill.read_corpus(src, out, train).targets == kd.targets
    with pytest.raises(distill.AlignmentError, match="23 translations for 24 sources"):
        distill.align(train, train.targets[:-1])
    out.write_text("".join(t + "\n" for t in kd.targets[:-1]))
    with pytest.raises(distill.AlignmentError, match=r"outputs\.txt has 23 lines but .*sources\.txt has 24"):
        distill.read_corpus(src, out, train)
    out.write_text("".join(t + "\n" for t in kd.targets))
    lines = list(train.sources)
    lines[4], lines[5] = lines[5], lines[4]
    src.write_text("".join(s + "\n" for s in lines))
    with pytest.raises(distill.AlignmentError, match="sources.txt line 5 is"):
        distill.read_corpus(src, out, train)
    assert src.read_text().count("\n") == 24  # nothing was overwritten or lost
    with pytest.raises(DataError, match="no sentence pairs"):
        PairSet("empty", (), ())
    with pytest.raises(DataError, match="pair 1 has an empty source"):
        PairSet("holes", ("a b", " "), ("x", "y"))


def test_beam_search_of_width_one_is_greedy_and_beam_outputs_are_rescored(task):
    from memlens.seq2seq.model import beam_translate, encode, greedy_translate, score_targets

    train, _, rule, tok = task
    model = Seq2SeqTrainer(tok, **TINY, epochs=100, lr=1e-2, language=rule.language).fit(train, 0)
    src = encode(tok, train.sources)
    greedy = greedy_translate(model, src, max_new_tokens=38)
    one = beam_translate(model, src, beams=1, max_new_tokens=38)
    assert one.ids == greedy.ids  # twin: beam 1 through generate is our greedy loop
    ended = np.array([len(r) < 38 for r in greedy.ids])  # re-scoring appends </s>: compare the ended ones
    assert ended.sum() >= 12  # trained enough to end most outputs
    np.testing.assert_allclose(one.logprob_sum[ended], greedy.logprob_sum[ended], atol=1e-4)
    wide = beam_translate(model, src, beams=4, max_new_tokens=38)
    direct = score_targets(model, src, [[*r, 2] for r in wide.ids])
    np.testing.assert_allclose(wide.logprob_sum, direct["logprob_sum"])
    assert wide.ids != one.ids  # a wider beam finds other outputs on this barely trained model


def test_seqkd_smoke(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from experiments import seqkd

    r = seqkd.main(["--smoke", "--no-progress", "--beams", "2", "--out", str(tmp_path)])
    for key in ("teacher", "student", "baseline", "student_hq", "counterfactual_by_kind", "checks", "pass"):
        assert key in r
    for model in ("teacher", "student", "baseline", "teacher_hq", "student_hq"):
        for metric in ("replicated", "extractive", "oscillatory", "natural", "chrf"):
            mean, low, high = r[model][metric]
            assert low <= mean <= high
    saved = json.loads((tmp_path / "seqkd.json").read_text())
    assert saved["checks"] == r["checks"]
    assert (tmp_path / "kd" / "outputs.txt").read_text().count("\n") == r["pairs"]
    assert r["beams"] == 2 and r["task"]["repeats"] == 2 and 0 <= r["kd_equals_corpus"] <= 1
    assert (tmp_path / "cm" / "run.json").exists()
    page = (tmp_path / "report.html").read_text()
    assert 'id="seqkd-table"' in page and "Adaptive-SeqKD" in page and "misaligned" in page
    from memlens.errors import RunStoreError
    from memlens.report.seq2seq_section import write_seqkd_report

    with pytest.raises(RunStoreError, match="no seqkd.json"):
        write_seqkd_report(tmp_path / "kd")
