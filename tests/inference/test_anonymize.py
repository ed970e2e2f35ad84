"""The entity-removal anonymizer: explicit (hardness-1) cues lose their entities, contextual ones survive."""

import re

import pytest

from memlens.inference.anonymize import Anonymizer
from memlens.inference.profiles import gazetteer, make_profiles


@pytest.fixture(scope="module")
def profiles():
    return make_profiles(150, seed=3)


@pytest.fixture(scope="module")
def anonymizer():
    return Anonymizer()


def _gazetteer_hits(text: str, terms: dict) -> list[str]:
    """Gazetteer terms occurring in ``text`` as whole words, by looking up every run of 1–4 words
    (the slow twin of the anonymizer's alternation regex); names case-sensitively, others not."""
    words = re.findall(r"[\w'-]+", text)
    runs = {" ".join(words[i:i + k]) for k in range(1, 5) for i in range(len(words) - k + 1)}
    hits = []
    for category, entries in terms.items():
        if category == "PERSON":
            hits += [w for w in entries if w in runs]
        else:
            lowered = {r.lower() for r in runs}
            hits += [w for w in entries if w.lower() in lowered]
    return hits


def test_every_gazetteer_entity_of_a_hardness_1_cue_is_removed(profiles, anonymizer):
    terms = {k: set(v) for k, v in gazetteer().items()}
    checked = 0
    for p in profiles:
        for attribute, hardness in p["hardness"].items():
            if hardness != 1:
                continue
            (cue,) = p["cues"][attribute]
            after = anonymizer(cue)
            for word in _gazetteer_hits(cue, terms):
                checked += 1
                flags = 0 if word[0].isupper() and word in terms["PERSON"] else re.I
                assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", after, flags), (cue, after, word)
            if attribute in ("location", "occupation"):
                assert str(p["attributes"][attribute]).lower() not in after.lower(), (cue, after)
            if any(ch.isdigit() for ch in cue):  # a stated age or income
                assert not any(ch.isdigit() for ch in after), (cue, after)
    assert checked > 50


def test_hardness_2_cues_survive(profiles, anonymizer):
    contextual = [(p, s) for p in profiles for a, h in p["hardness"].items() if h >= 2 for s in p["cues"][a]]
    kept = [s for _, s in contextual if anonymizer(s) == s]
    assert len(kept) >= 0.85 * len(contextual)
    terms = {k: set(v) for k, v in gazetteer().items()}
    for _, sentence in contextual:  # without a gazetteer entity, only numbers and days can go
        if not _gazetteer_hits(sentence, terms):
            assert set(re.findall(r"<([A-Z]+)>", anonymizer(sentence))) <= {"NUMBER", "DATETIME"}, sentence


def test_tags_and_stars():
    a = Anonymizer({"LOCATION": ["New York", "York"], "PERSON": ["Anna"]})
    text = "Anna (anna@mail.com) moved to New York in 2019, I'm 34 and make $48,000 a year, call 555-123-4567"
    assert a(text) == ("<PERSON> (<EMAIL>) moved to <LOCATION> in <DATETIME>, I'm <AGE> and make <CURRENCY> a "
                       "year, call <PHONENUMBER>")
    stars = Anonymizer({"LOCATION": ["New York"]}, mode="stars")(text)
    assert len(stars) == len(text) and "New York" not in stars and "2019" not in stars and "48,000" not in stars
    assert "anna" not in Anonymizer({"PERSON": ["Anna"]})("Anna said hi").lower()
    assert Anonymizer({"PERSON": ["Rose"]})("a rose by any name") == "a rose by any name"  # names: capitalized only
    with pytest.raises(ValueError, match="unknown entity categories"):
        Anonymizer({"CITY": ["Lyon"]})
