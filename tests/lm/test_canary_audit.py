"""Canary exposure, its tokenizer-only control, and per-canary extraction (memlens.lm.canary_audit).

Slow twins: whole-text scoring with ``sequence_logprobs`` and the exposure definition written out.
Planted effects: a tokenizer fitted on the canaries makes an untrained model "expose" them, and
the control cancels it; a model trained without the canaries stays at chance; one trained on them
many times is far above its control and writes their secrets from their own prefixes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("transformers")
pytest.importorskip("faker")

from memlens.lm.canary_audit import (  # noqa: E402
    CANARY_COLUMNS,
    CanarySpec,
    canary_columns,
    canary_extraction,
    candidate_logprobs,
    exposure_plan,
    plan_exposure,
    secret_single_token,
)
from memlens.lm.corpus import (
    DEFAULT_TEMPLATE,
    Corpus,
    insert_canaries,
    load_corpus,
    train_tokenizer,
)  # noqa: E402
from memlens.lm.measures import exposure_chance  # noqa: E402
from memlens.lm.model import sequence_logprobs, tiny_gpt2, train_lm  # noqa: E402

CONTEXT = 96


@pytest.fixture(scope="module")
def corpus():
    """12 short help topics, two canaries inserted once and two 32 times (3-digit secrets)."""
    base = Corpus("pydoc", [d[:200] for d in load_corpus("pydoc:12").documents])
    return insert_canaries(base, n_canaries=4, repeats=(1, 32), secret_digits=3, seed=0)


@pytest.fixture(scope="module")
def plain(corpus):
    return [d for d, k in zip(corpus.documents, corpus.canary_of, strict=True) if k < 0]


@pytest.fixture(scope="module")
def tokenizer(plain):
    return train_tokenizer(plain, vocab_size=400)  # fitted without the canaries


def _model(tokenizer, seed=1):
    return tiny_gpt2(len(tokenizer), n_layer=1, n_embd=48, n_head=2, n_positions=CONTEXT, seed=seed)


def _train(tokenizer, documents):
    model = _model(tokenizer)
    train_lm(
        model, tokenizer, documents, epochs=20, batch_size=16, lr=5e-3, seq_len=CONTEXT, seed=0
    )
    return model


@pytest.fixture(scope="module")
def trained(corpus, tokenizer):
    return _train(tokenizer, corpus)


# --- scoring and exposure against their slow twins ----------------------------------------------


def test_candidate_logprobs_rank_like_whole_text_scoring(corpus, tokenizer):
    """The shared-prefix, cached scoring equals whole-text log-probabilities up to one constant
    (the shared prefix's), also for texts of several lengths after the prefix."""
    model = _model(tokenizer, seed=3)
    canary = corpus.canaries[0]
    texts = [canary.prefix + s for s in canary.space.candidates()][:120]
    texts += [canary.prefix + s + " and then some more words" for s in ("12", "345", "6")]
    fast = candidate_logprobs(model, tokenizer, texts, batch_size=64)
    whole = np.nansum(sequence_logprobs(model, tokenizer, texts).logprobs, axis=1)
    assert np.ptp(whole - fast) < 1e-4
    assert (np.argsort(fast, kind="stable") == np.argsort(whole, kind="stable")).mean() > 0.99


@pytest.mark.parametrize("exact_limit", [10**5, 10])
def test_plan_exposure_matches_the_definition(corpus, tokenizer, exact_limit):
    """Exact route: every candidate scored whole by the slow scorer, each canary ranked without the
    other canaries' secrets. Skew-normal route (forced with a tiny exact_limit): the reference
    sample never holds an inserted secret and the space shrinks by the other canaries."""
    from memlens.lm.measures import exposure_skew_normal

    model = _model(tokenizer, seed=4)
    canaries = corpus.canaries
    plan = exposure_plan(canaries, samples=200, seed=0, exact_limit=exact_limit)
    got = plan_exposure(model, tokenizer, plan, len(canaries)).reference
    inserted = {c.secret for c in canaries}
    for k, c in enumerate(canaries):
        if exact_limit > 1000 and k < 2:  # one canary inserted once, one 32 times
            keep = [s for s in c.space.candidates() if s == c.secret or s not in inserted]
            whole = np.nansum(
                sequence_logprobs(model, tokenizer, [c.prefix + s for s in keep]).logprobs, axis=1
            )
            own = whole[keep.index(c.secret)]
            rank = int((whole >= own - 1e-9).sum())
            assert got[k] == pytest.approx(math.log2(len(keep)) - math.log2(rank), abs=1e-6)
        elif exact_limit <= 1000:
            (group,) = [g for g in plan if k in g.canaries]
            sample_texts = group.texts[: len(group.texts) - len(group.canaries)]
            assert len(sample_texts) == 200
            assert not {t[len(c.prefix) :] for t in sample_texts} & inserted
            assert group.space_size == [1000 - 3]
            whole = np.nansum(
                sequence_logprobs(model, tokenizer, [*sample_texts, c.text]).logprobs, axis=1
            )
            want = exposure_skew_normal(whole[-1], whole[:-1], space_size=997)
            assert got[k] == pytest.approx(want, abs=0.05)


def test_a_canary_longer_than_the_context_is_not_scored(corpus, tokenizer):
    model = tiny_gpt2(len(tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=8)
    columns, info = canary_columns(model, tokenizer, corpus.canaries[:2], control_inits=1)
    assert (
        np.isnan(columns["exposure"]).all()
        and "longer than the model's context" in info["too_long_note"]
    )
    assert not columns["extracted_from_prefix"].any()


# --- the tokenizer-only control -----------------------------------------------------------------


def test_a_leaky_tokenizer_exposes_canaries_under_an_untrained_model_and_the_control_cancels_it(
    corpus,
):
    """The issue's artefact, planted: a tokenizer fitted with the canaries merges each secret
    inserted 32 times into one token, so a model that never trained ranks it first; the control
    (other untrained models with that tokenizer) does the same, so the excess is ~0."""
    leaky = train_tokenizer(corpus.documents, vocab_size=400)
    heavy = np.array([c.repeats == 32 for c in corpus.canaries])
    single = secret_single_token(leaky, corpus.canaries)
    assert single[heavy].all() and not single[~heavy].any()
    columns, _ = canary_columns(_model(leaky, seed=7), leaky, corpus.canaries, seed=0)
    top = math.log2(1000 - 3)
    assert (columns["exposure"][heavy] > top - 1).all()  # "exposed" without any training
    assert (columns["exposure_control"][heavy] > top - 1).all()
    assert np.abs(columns["exposure_excess"][heavy]).max() < 0.5
    assert abs(columns["exposure_excess"].mean()) < 1.5


def test_control_is_chance_for_untrained_and_canary_free_models_and_excess_is_large_after_training(
    corpus, plain, tokenizer, trained
):
    """With the tokenizer fitted without canaries: an untrained model's excess is ~0; a model
    trained on the same documents without the canaries ranks their secrets near chance; the model
    trained on them ranks the 32-times canaries far above its control and writes their secrets."""
    canaries = corpus.canaries
    heavy = np.array([c.repeats == 32 for c in canaries])
    chance = exposure_chance(1000 - 3)
    assert not secret_single_token(tokenizer, canaries).any()

    untrained, _ = canary_columns(_model(tokenizer, seed=11), tokenizer, canaries, seed=0)
    assert abs(untrained["exposure_excess"].mean()) < 1.5
    assert abs(untrained["exposure_control"].mean() - chance) < 2  # the control sits at chance

    plan = exposure_plan(canaries, seed=0)
    clean = plan_exposure(_train(tokenizer, plain), tokenizer, plan, len(canaries)).reference
    assert abs(clean.mean() - chance) < 2

    columns, info = canary_columns(trained, tokenizer, canaries, seed=0)
    assert columns["exposure_excess"][heavy].min() > 6  # of at most log2(997) - control ≈ 8.5
    assert columns["exposure_excess"][heavy].mean() > columns["exposure_excess"][~heavy].mean()
    assert abs(columns["exposure_control"].mean() - chance) < 2
    assert columns["extracted_from_prefix"][heavy].all()
    assert info["exposure_chance"] == pytest.approx(chance, abs=1e-3)


def test_extraction_from_the_own_prefix_and_the_bare_template(tokenizer, plain):
    """Three canaries of one fieldless template share one prompt: greedy decoding from it writes
    at most one of their secrets. Three with a name each have their own prompts, and each can be
    written from it; from the bare label "PIN" at most one."""
    corpus = insert_canaries(Corpus("p", plain[:6]), n_canaries=3, repeats=(24,), secret_digits=3,
                             template=DEFAULT_TEMPLATE, seed=1)  # fmt: skip
    corpus = insert_canaries(corpus, n_canaries=3, repeats=(24,), secret_digits=3,
                             template="{first_name}, PIN {secret}", seed=2)  # fmt: skip
    own, bare = canary_extraction(_train(tokenizer, corpus), tokenizer, corpus.canaries)
    assert (own[:3] == bare[:3]).all() and own[:3].sum() <= 1
    assert own[3:].sum() >= 2 and bare[3:].sum() <= 1


# --- the audit: columns, lm.json, the record -----------------------------------------------------


def test_audit_reports_exposure_control_and_excess(tmp_path, corpus, tokenizer, trained):
    from memlens.lm.audit import COLUMNS, ModelSpec, lm_audit, save_target

    spec = CanarySpec(n=4, repeats=(1, 32), secret_digits=3, seed=0)
    base = Corpus(
        "pydoc", corpus.documents[: len(corpus) - sum(c.repeats for c in corpus.canaries)]
    )
    assert spec.apply(base).documents == corpus.documents
    model_path = save_target(trained, tokenizer, tmp_path / "model", corpus=corpus, corpus_arg="pydoc",
                             canaries=spec, spec=ModelSpec(), holdout=0.0,
                             heldout=np.zeros(len(corpus), bool), seed=0)  # fmt: skip
    record = json.loads((model_path / "memlens_lm.json").read_text())
    assert (
        "without its canaries" in record["tokenizer"]
        and CanarySpec.from_record(record["canaries"]) == spec
    )
    result = lm_audit(base, out=tmp_path / "run", model_path=model_path, prefix_lengths=(2,),
                      suffix_length=4, progress=False)  # fmt: skip
    frame = pd.read_parquet(tmp_path / "run" / "lm_scores.parquet")
    assert list(frame.columns) == list(COLUMNS) and set(CANARY_COLUMNS) <= set(frame.columns)
    can, docs = frame[frame.kind == "canary"], frame[frame.kind == "document"]
    np.testing.assert_allclose(can.exposure_excess, can.exposure - can.exposure_control)
    assert docs.exposure_excess.isna().all() and docs.extracted_from_prefix.isna().all()
    summary = json.loads((tmp_path / "run" / "lm.json").read_text())["summary"]
    assert summary == json.loads(json.dumps(result.summary["summary"]))
    assert (
        set(summary["excess_by_repeats"]) == {"1", "32"} and summary["excess_by_repeats"]["32"] > 6
    )
    assert summary["exposed_canaries"] == int((can.exposure_excess >= 10).sum())
    assert summary["extracted_from_prefix"] == int(can.extracted_from_prefix.sum()) == 2
    assert summary["single_token_secrets"] == 0 and "single_token_note" not in summary
    assert "other inserted canaries" in summary["exposure_protocol"]["convention"]
    page = (tmp_path / "run" / "report.html").read_text()
    assert "tokenizer-only control" in page and "exposure_excess" in page


def test_the_report_and_the_audit_count_exposed_canaries_alike():
    from memlens.lm.canary_audit import EXPOSED_EXCESS_BITS
    from memlens.report.lm_section import EXPOSED_BITS

    assert EXPOSED_EXCESS_BITS == EXPOSED_BITS


def test_a_record_without_templates_is_the_shared_template_of_old_checkpoints():
    old = CanarySpec.from_record({"n": 3, "repeats": [1, 2], "secret_digits": 4, "seed": 0})
    assert old.templates == (DEFAULT_TEMPLATE,) and old.repeats == (1, 2)
    texts = [c.text for c in old.apply(Corpus("b", ["x"])).canaries]
    assert all(t.startswith("my social security number is ") for t in texts)
    assert CanarySpec.from_record(CanarySpec(n=2).to_record()) == CanarySpec(n=2)


def test_train_target_fits_the_tokenizer_without_the_canaries(corpus, plain):
    """`memlens lm train`'s tokenizer is the one fitted on the documents alone: no secret, however
    often inserted, becomes a token of its own."""
    from memlens.lm.audit import ModelSpec, train_target
    from memlens.lm.engine import tokenizer_fingerprint

    spec = ModelSpec(n_layer=1, n_embd=16, n_head=2, n_positions=CONTEXT, epochs=1, vocab_size=400)
    _, tok, _ = train_target(corpus, spec=spec, holdout=0.0, seed=0)
    assert tokenizer_fingerprint(tok) == tokenizer_fingerprint(
        train_tokenizer(plain, vocab_size=400)
    )
    assert not secret_single_token(tok, corpus.canaries).any()
