"""The two adversary backends: a trained TF-IDF classifier (and its shuffled-label control), and a
causal LM prompted as in Staab et al. (a tiny GPT-2 made here from scratch)."""

import numpy as np
import pytest

from memlens.errors import MemlensError
from memlens.inference.adversaries import (
    CausalLMAdversary,
    TfidfAdversary,
    build_prompt,
    parse_answer,
    run_inference,
)
from memlens.inference.profiles import make_profiles
from memlens.inference.scoring import summarize

ATTRS = ["location", "occupation", "married", "income"]


@pytest.fixture(scope="module")
def profiles():
    return make_profiles(260, seed=5)


def _top1(df, attribute):
    s = summarize(df)["texts"]["original"]["attributes"][attribute]
    return s["top1"]["rate"], s["majority"]


def test_tfidf_infers_and_its_shuffled_control_does_not(profiles):
    train, test = profiles[:180], profiles[180:]
    real = run_inference(test, ATTRS, TfidfAdversary(max_features=5000), train=train)
    rng = np.random.default_rng(0)
    perms = {a: rng.permutation(len(train)) for a in ATTRS}  # each attribute shuffled across profiles
    shuffled = [{**p, "attributes": {a: train[perms[a][i]]["attributes"][a] for a in ATTRS}}
                for i, p in enumerate(train)]
    control = run_inference(test, ATTRS, TfidfAdversary(max_features=5000), train=shuffled)
    for attribute in ATTRS:
        top1, majority = _top1(real, attribute)
        assert top1 >= 2 * majority, (attribute, top1, majority)  # the planted cues are found
        top1, majority = _top1(control, attribute)
        assert top1 <= majority + 0.1, (attribute, top1, majority)  # no cue-label link: chance at best
    assert set(real["text"]) == {"original"} and real["correct_top3"].ge(real["correct"]).all()


def test_cross_fitting_guesses_every_profile_with_a_model_that_did_not_see_it(profiles, monkeypatch):
    seen = []
    original_fit = TfidfAdversary.fit

    def spy(self, texts, truths):
        seen.append(set(texts))
        return original_fit(self, texts, truths)

    monkeypatch.setattr(TfidfAdversary, "fit", spy)
    subset = profiles[:40]
    df = run_inference(subset, ["married"], TfidfAdversary(max_features=2000), folds=4)
    assert len(seen) == 4 and len(df) == 40
    texts = ["\n".join(p["comments"]) for p in subset]
    assert all(sum(t in fold for fold in seen) == 3 for t in texts)  # each text in the other folds' training only


def test_prompt_and_parser_follow_the_paper():
    system, user = build_prompt("comment one\ncomment two", ["income", "age"], anonymized="tags")
    assert system.startswith("You are an expert investigator") and "<LOCATION>" in system
    assert user.startswith("Let us play a guessing game.") and "guess the authors yearly income, age?" in user
    assert "Comments:\n\ncomment one\ncomment two\n\nFirst reason step-by-step" in user
    assert "Type: income\nInference: Your detailed inference\nGuess: Your top 3 guesses in a list separated by ; . Choose from these options: No income" in user
    answer = "Type: yearly income\nInference: rich\nGuess: High; Very High; Medium; Low\nType: Age\nGuess: 30-40"
    assert parse_answer(answer, ["income", "age"]) == {"income": ["High", "Very High", "Medium"], "age": ["30-40"]}
    assert parse_answer("no format at all", ["income"]) == {"income": []}


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, profiles):
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.model import save_causal_lm, tiny_gpt2

    tokenizer = train_tokenizer(["\n".join(p["comments"]) for p in profiles[:50]], vocab_size=300)
    model = tiny_gpt2(len(tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=1024, seed=0)
    return save_causal_lm(model, tokenizer, tmp_path_factory.mktemp("lm") / "tiny")


def test_hf_backend_runs_end_to_end_on_a_tiny_gpt2(tiny_lm, profiles):
    from memlens.inference.anonymize import Anonymizer

    adversary = CausalLMAdversary(tiny_lm, max_new_tokens=6)
    df = run_inference(profiles[:2], ["location", "age"], adversary, anonymizer=Anonymizer(), anonymizer_mode="tags")
    assert len(df) == 2 * 2 * 2 and set(df["correct"]) <= {0, 1} and adversary.name == f"hf:{tiny_lm}"
    # an untrained model's six tokens are no answer: nothing parsed, nothing scored correct
    assert df["guesses"].map(len).max() <= 3


def test_hf_backend_scores_what_the_model_answers(tiny_lm, profiles, monkeypatch):
    adversary = CausalLMAdversary(tiny_lm, max_new_tokens=4)
    truths = [p["attributes"]["location"] for p in profiles[:3]]
    answers = iter([f"Type: location\nInference: x\nGuess: {truths[0]}; Paris",  # right at top-1
                    f"Type: location\nInference: x\nGuess: Nowhere; {truths[1]}",  # right at top-2
                    "Type: location\nInference: x\nGuess: Atlantis"])
    monkeypatch.setattr(adversary, "answer", lambda text, attributes, anonymized=None: next(answers))
    df = run_inference(profiles[:3], ["location"], adversary)
    assert df["correct"].tolist() == [1, 0, 0] and df["correct_top3"].tolist() == [1, 1, 0]


def test_hf_backend_fits_the_prompt_to_the_context(tmp_path, profiles):
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.model import save_causal_lm, tiny_gpt2

    tokenizer = train_tokenizer(["\n".join(p["comments"]) for p in profiles[:20]], vocab_size=300)
    short = save_causal_lm(tiny_gpt2(len(tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=600), tokenizer,
                           tmp_path / "short")
    adversary = CausalLMAdversary(short, max_new_tokens=4)
    long_profile = {**profiles[0], "comments": profiles[0]["comments"] * 5}
    ids = adversary._prompt_ids("\n".join(long_profile["comments"]), ["location"], None)
    assert len(ids) <= 600 - 4 and adversary.truncated == 1
    with pytest.raises(MemlensError, match="prompt alone takes"):
        CausalLMAdversary(short, max_new_tokens=500).answer("x", ["location", "age", "income", "education"])


def test_a_checkpoint_that_is_not_a_causal_lm_is_refused(tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    BertForMaskedLM(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32)).save_pretrained(tmp_path / "bert")
    with pytest.raises(MemlensError, match="not a causal language model"):
        CausalLMAdversary(tmp_path / "bert")
