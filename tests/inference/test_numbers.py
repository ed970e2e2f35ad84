"""Numbers read as a reader reads them: stated ages and incomes become decade and band tokens, which the
anonymizer removes with the number; the adversary that counts them reads stated ages and incomes."""

import numpy as np
import pytest

from memlens.inference.adversaries import TfidfAdversary, profile_text, run_inference
from memlens.inference.anonymize import Anonymizer
from memlens.inference.numbers import numeric_cue_tokens, read_numbers
from memlens.inference.profiles import EXPLICIT_AGE, EXPLICIT_INCOME, INCOME, make_profiles
from memlens.inference.scoring import summarize

UNITS = "one two three four five six seven eight nine".split()
TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety"}


def _meaning(tokens):
    """The age and income tokens alone (what says who the author is)."""
    return [t for t in tokens if t.startswith(("age:", "income:"))]


def test_a_planted_profile_stating_its_age_reads_as_that_decade():
    profile = {**make_profiles(1, seed=4)[0]}
    profile["comments"] = [*profile["comments"], "I am 34"]
    tokens = numeric_cue_tokens(profile_text(profile))
    assert "age:30s" in tokens and "age:30-34" in tokens


@pytest.mark.parametrize("template", EXPLICIT_AGE)
def test_every_stated_age_reads_as_its_decade_and_half_decade(template):
    for age in range(16, 100):  # digits and words: both mean the same age
        words = TENS[age // 10 * 10] + ("-" + UNITS[age % 10 - 1] if age % 10 else "") if age >= 20 else None
        for text in [template.format(v=age)] + ([template.format(v=words)] if words else []):
            assert _meaning(numeric_cue_tokens(text)) == [f"age:{age // 10 * 10}s",
                                                          f"age:{age // 5 * 5}-{age // 5 * 5 + 4}"], text


@pytest.mark.parametrize("template", EXPLICIT_INCOME)
def test_stated_incomes_read_as_the_generators_bracket(template):
    # every bracket's amounts, at its edges and between, map to the band it was drawn for
    for bracket, ((low, high), _) in INCOME.items():
        if bracket == "no":
            continue
        for amount in (low, (low + high) // 2 // 1000 * 1000, high):
            assert _meaning(numeric_cue_tokens(template.format(v=amount))) == [f"income:{bracket}"], (template, amount)


def test_pay_periods_and_amount_spellings_are_read_as_a_year():
    cases = {
        "I make $20 an hour": "income:medium",  # 20 × 2,080 = 41,600
        "I get paid $2,000 a month": "income:low",  # 24,000
        "I earn 85k a year": "income:high",
        "my salary is €1.2m": "income:very high",
        "I make $160,000": "income:very high",  # a pay word and 10,000 or more: a year is assumed
        "my salary is $0": "income:no",
    }
    for text, band in cases.items():
        assert _meaning(numeric_cue_tokens(text)) == [band], text


def test_numbers_that_state_no_age_or_income_read_as_plain_numbers():
    for text in ("I'm 5 minutes away", "I'm 100% sure", "made 34 pancakes this morning", "ran 12 km and regretted it",
                 "I paid $1,200 a month in rent", "one of those days", "sent me a meme at 3 am"):
        assert _meaning(numeric_cue_tokens(text)) == [], text
    assert read_numbers("I paid $1,200 a month in rent") == [("money", 1200.0, "$1,200")]
    assert numeric_cue_tokens("ran 12 km") == ["number:1e1"]


def test_the_anonymizer_removes_the_number_and_its_meaning_with_it():
    profiles = make_profiles(300, seed=6)
    stated = [s for p in profiles for a in ("age", "income") if p["hardness"][a] == 1 for s in p["cues"][a]
              if any(ch.isdigit() for ch in s)]
    assert len(stated) > 100
    for mode in ("tags", "stars"):
        anonymize = Anonymizer(mode=mode)
        for sentence in stated:
            assert _meaning(numeric_cue_tokens(sentence)), sentence  # read before …
            assert numeric_cue_tokens(anonymize(sentence)) == [], (mode, anonymize(sentence))  # … gone after
    assert numeric_cue_tokens(Anonymizer()("turning forty soon and not ready")) == []


def test_the_adversary_reads_stated_ages_only_with_numbers_on_and_the_old_one_stays_reachable():
    profiles = make_profiles(600, seed=7)
    train, test = profiles[:500], profiles[500:]
    rates = {}
    for read in (True, False):
        adversary = TfidfAdversary(max_features=5000, read_numbers=read)
        frame = run_inference(test, ["age"], adversary, train=train)
        rates[read] = summarize(frame)["texts"]["original"]["attributes"]["age"]["by_hardness"]["1"]["top1"]["rate"]
        assert [name for name, _ in adversary.vectorizer_.transformer_list] == (
            ["word", "char", "numbers"] if read else ["word", "char"])
        assert adversary.name == ("tfidf+numbers" if read else "tfidf")
    assert rates[True] >= 0.9 and rates[True] >= rates[False] + 0.3, rates  # measured: 1.00 vs 0.57


def test_texts_without_numbers_fit_without_a_numbers_block():
    texts = ["I live in Lyon and love it", "the tube was late", "I live in Lyon again", "the tube again"]
    adversary = TfidfAdversary().fit(texts, {"location": ["Lyon", "London", "Lyon", "London"]})
    assert [name for name, _ in adversary.vectorizer_.transformer_list] == ["word", "char"]
    assert adversary.guess(["I'm 34 in Lyon"], ["location"])["location"][0][0] == "lyon"


def test_the_numbers_block_weighs_numbers_weight_beside_the_unit_word_and_char_blocks():
    texts = ["I'm 34 and live in Lyon", "I'm 61 and live in Paris", "I'm 35 in Lyon", "I'm 62 in Paris"]
    for weight in (0.5, 1.0):
        adversary = TfidfAdversary(numbers_weight=weight).fit(texts, {"location": ["Lyon", "Paris", "Lyon", "Paris"]})
        X = adversary.vectorizer_.transform(["I'm 34 in Paris"]).toarray()[0]
        sizes = [len(v.vocabulary_) for _, v in adversary.vectorizer_.transformer_list]
        blocks = np.split(X, np.cumsum(sizes)[:-1])
        assert np.allclose([np.linalg.norm(b) for b in blocks], [1.0, 1.0, weight])
