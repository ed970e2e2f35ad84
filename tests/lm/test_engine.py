"""The language-model engine and lm_audit: shapes, the estimator plumbing, and the written run."""

import json

import numpy as np
import pandas as pd
import pytest

from memlens.design import halves
from memlens.errors import MemlensError
from memlens.estimate import memorization_scores
from memlens.lm.audit import COLUMNS, CanarySpec, ModelSpec, lm_audit
from memlens.lm.corpus import Corpus, train_tokenizer
from memlens.lm.engine import LMTrainer, counterfactual, document_observables
from memlens.train.base import model_seeds

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda sigma tau".split()


def synthetic(n_unique=24, n_dup=4, copies=4, length=10, seed=0):
    rng = np.random.default_rng(seed)
    unique = [" ".join(rng.choice(WORDS, length)) for _ in range(n_unique)]
    dup = [" ".join(rng.choice(WORDS, length)) for _ in range(n_dup)]
    return Corpus("synthetic", unique + [d for d in dup for _ in range(copies)])


@pytest.fixture(scope="module")
def corpus():
    return synthetic(n_unique=16, copies=3)


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_tokenizer(corpus, vocab_size=300)


@pytest.fixture(scope="module")
def engine_run(corpus, tokenizer):
    trainer = LMTrainer(tokenizer, n_embd=32, n_positions=32, epochs=3)
    design = halves(4, len(corpus), seed=0)
    ticks = []
    obs = trainer.fit_observe(corpus, design.membership, model_seeds(0, 4), progress=ticks.append)
    return trainer, design, obs, ticks


def test_engine_shapes_and_plumbing(corpus, engine_run):
    trainer, design, obs, ticks = engine_run
    assert set(obs) == {"loss", "token_accuracy", "logprob_sum"}
    for v in obs.values():
        assert v.shape == (4, len(corpus)) and v.dtype == np.float32 and np.isfinite(v).all()
    assert sum(ticks) == 4
    assert ((obs["token_accuracy"] >= 0) & (obs["token_accuracy"] <= 1)).all()
    assert (obs["loss"] > 0).all() and (obs["logprob_sum"] < 0).all()
    # counterfactual memorization = IN minus OUT of the per-document measure (Feldman–Zhang on documents)
    mem = counterfactual(design.membership, obs).memorization
    brute = memorization_scores(design.membership, obs["token_accuracy"].astype(np.float64)).memorization
    np.testing.assert_allclose(mem, brute)
    by_loss = counterfactual(design.membership, obs, measure="loss").memorization
    m = design.membership
    loss = obs["loss"].astype(np.float64)
    manual = np.array([-loss[m[:, j], j].mean() + loss[~m[:, j], j].mean() for j in range(m.shape[1])])
    np.testing.assert_allclose(by_loss, manual, rtol=1e-6)
    with pytest.raises(MemlensError, match="Unknown counterfactual measure"):
        counterfactual(design.membership, obs, measure="bleu")
    cfg = trainer.config()
    assert cfg["vocab_size"] == len(trainer.tokenizer) and len(cfg["tokenizer"]) == 64


def test_engine_is_seeded(corpus, tokenizer, engine_run):
    trainer, design, obs, _ = engine_run
    again = trainer.fit_observe(corpus, design.membership[1:2], model_seeds(0, 4)[1:2])
    np.testing.assert_allclose(again["loss"][0], obs["loss"][1], rtol=1e-5)


def test_observables_match_sequence_logprobs(corpus, tokenizer, engine_run):
    from memlens.lm.model import sequence_logprobs

    trainer = engine_run[0]
    model = trainer.fit(corpus.documents[:5], seed=1)
    obs = document_observables(model, tokenizer, corpus.documents[:6])
    lp = sequence_logprobs(model, tokenizer, corpus.documents[:6])
    np.testing.assert_allclose(obs["logprob_sum"], np.nansum(lp.logprobs, axis=1), rtol=1e-4)
    np.testing.assert_allclose(obs["loss"], -np.nanmean(lp.logprobs, axis=1), rtol=1e-4)


def test_engine_refuses_mismatched_rows(corpus, tokenizer):
    with pytest.raises(MemlensError, match="documents"):
        LMTrainer(tokenizer, epochs=1).fit_observe(corpus, np.ones((1, 3), bool), model_seeds(0, 1))


def test_lm_audit_end_to_end(tmp_path):
    data = synthetic(n_unique=30, n_dup=0)
    spec = ModelSpec(n_layer=1, n_embd=32, n_positions=32, epochs=3, vocab_size=300)
    out = tmp_path / "run"
    result = lm_audit(
        data, out=out, models=2, canaries=CanarySpec(n=2, repeats=(1, 4), secret_digits=2),
        spec=spec, engine_epochs=1, engine_width=32, prefix_lengths=(2, 4), suffix_length=4,
        progress=False,
    )  # fmt: skip
    frame = pd.read_parquet(out / "lm_scores.parquet")
    assert list(frame.columns) == list(COLUMNS)
    assert (frame.kind == "document").sum() == 30 and (frame.kind == "canary").sum() == 2
    can = frame[frame.kind == "canary"]
    assert can.repeats.tolist() == [1, 4]
    assert ((can.exposure >= 0) & (can.exposure <= np.log2(100))).all()
    docs = frame[frame.kind == "document"]
    assert docs.exposure.isna().all() and (~docs.member).sum() == 6
    assert docs.loc[docs.member, "counterfactual"].notna().all()
    assert docs.loc[~docs.member, "counterfactual"].isna().all()
    for col in ("loss", "zlib", "min_k"):
        assert frame[col].notna().all() and (frame[col] <= 0).all()
    assert frame.min_k_pp.notna().all()
    assert set(frame.extractable_at_k.unique()) <= {-1, 2, 4} | set(range(1, 32))
    assert (frame.longest_verbatim_span >= 0).all()
    summary = json.loads((out / "lm.json").read_text())
    assert summary == json.loads(json.dumps(result.summary))
    assert set(summary["mia"]["auroc"]) == {"loss", "zlib", "min_k", "min_k_pp", "reference"}
    assert summary["summary"]["exposure_method"] == "exact"
    assert (out / "run.json").exists() and (out / "observations" / "token_accuracy.npy").exists()


def test_lm_audit_refuses_before_writing(tmp_path):
    data = synthetic(n_unique=10, n_dup=0)
    out = tmp_path / "run"
    with pytest.raises(MemlensError, match="--models >= 2"):
        lm_audit(data, out=out, models=1, progress=False)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(MemlensError, match="not a memlens language-model run"):
        lm_audit(data, out=tmp_path / "notes", progress=False)
    with pytest.raises(MemlensError, match="No checkpoint folder"):
        lm_audit(data, out=out, model_path=tmp_path / "nothing", progress=False)
    assert not out.exists()
