"""The synthetic domain: references state the table and its implied facts; bad input is refused."""

import re

import numpy as np
import pytest

from memlens.errors import DataError
from memlens.table2text.data import (
    CITY_NATIONALITY,
    EMPLOYER_CITY,
    TEMPLATES,
    check_table,
    fact_spans,
    few_shot_sample,
    knowledge_corpus,
    labelled_examples,
    realize,
)
from memlens.table2text.metrics import slot_coverage


def test_references_realize_every_slot_and_the_implied_facts():
    examples = labelled_examples(200, np.random.default_rng(0))
    assert slot_coverage([e.reference for e in examples], [e.table for e in examples]).min() == 1.0
    for e in examples:
        if "employer" in e.table:
            assert EMPLOYER_CITY[e.table["employer"]] in e.reference
        if "birthplace" in e.table:
            assert CITY_NATIONALITY[e.table["birthplace"]] in e.reference
    assert len({frozenset(k for k in e.table if k not in ("name", "occupation")) for e in examples}) == len(TEMPLATES)


def test_knowledge_corpus_states_every_fact_and_no_table():
    corpus = knowledge_corpus(50, np.random.default_rng(0))
    text = "\n".join(corpus)
    assert all(f"{e} is based in {c}" in text for e, c in EMPLOYER_CITY.items())
    assert "=" not in text and "table:" not in text


def test_table_without_required_slots_is_refused():
    with pytest.raises(DataError, match="lacks the required slot.*occupation"):
        realize({"name": "Anna Berg", "birthplace": "Porto"})
    with pytest.raises(DataError, match="unknown slot"):
        check_table({"name": "A", "occupation": "painter", "hobby": "chess"})
    with pytest.raises(DataError, match="empty value"):
        check_table({"name": " ", "occupation": "painter"})


def test_few_shot_size_larger_than_the_data_is_refused():
    examples = labelled_examples(10, np.random.default_rng(0))
    with pytest.raises(DataError, match="few-shot size of 11 needs at least 11"):
        few_shot_sample(examples, 11, np.random.default_rng(0))
    with pytest.raises(DataError, match=">= 1"):
        few_shot_sample(examples, 0, np.random.default_rng(0))
    assert len({id(e) for e in few_shot_sample(examples, 10, np.random.default_rng(0))}) == 10


def test_generic_records_must_be_copied_and_never_touch_the_domain():
    pytest.importorskip("faker")
    from memlens.table2text.data import SLOTS, fact_queries, generic_corpus, generic_records

    records = generic_records(400, np.random.default_rng(0))
    tables = [ex.table for ex, _ in records]
    # the text states every value of its table, so predicting a value means copying it
    assert slot_coverage([ex.reference for ex, _ in records], tables).min() == 1.0
    # values are drawn fresh: a (title, artist) pair practically never repeats
    assert len({(t["title"], t["artist"]) for t in tables}) == len(tables)
    # the prototype keeps the record's structure with [slot] markers and none of its values
    for ex, prototype in records:
        assert all(f"[{s}]" in prototype for s in ex.table)
        assert prototype.replace("[", "{").replace("]", "}").format(**ex.table) == ex.reference
    # the domain's words occur only as values: never its slot names, phrasing or facts
    text = " ".join(generic_corpus(400, np.random.default_rng(1)))
    assert not any(f"{slot} =" in text or f"[{slot}]" in text for slot in SLOTS)
    assert not any(q in text for q, _ in fact_queries())
    # (a nationality may be a Faker last name, "French", never a stated nationality)
    assert not any(re.search(rf"\b(a|are) {nat}\b", text) for nat in CITY_NATIONALITY.values())
    assert not any(phrase in text for phrase in ("works as a", "was born in", "works for", "working for"))
    assert "prompt: " in text and "table: " in text


def test_fact_queries_cover_every_fact_and_the_knowledge_corpus_states_them():
    from memlens.table2text.data import fact_queries

    facts = dict(fact_queries())
    assert len(facts) == len(EMPLOYER_CITY) + len(CITY_NATIONALITY)
    assert facts["Porto is a"] == "Portuguese city" and facts["Norvik Labs is based in"] == "Malmo"
    corpus = knowledge_corpus(5, np.random.default_rng(0), fact_repeats=3)
    assert all(corpus.count(f"{q} {a} .") == 3 for q, a in facts.items())
    assert "people from Porto are Portuguese ." in corpus


def test_fact_spans_cover_the_facts_after_their_subject_and_no_table_value():
    examples = labelled_examples(300, np.random.default_rng(5))
    for e in examples:
        text, t = e.reference, e.table
        # brute-force twin: the fact words whose subject comes earlier in the sentence
        expected = set()
        if "employer" in t:
            expected.add(EMPLOYER_CITY[t["employer"]])
        if "birthplace" in t:
            nationality = CITY_NATIONALITY[t["birthplace"]]
            if text.index(t["birthplace"]) < text.index(nationality):
                expected.add(nationality)
        spans = fact_spans(text)
        assert {text[a:b] for a, b in spans} == expected, text
        for value in t.values():  # no free value (name, occupation, year, …) is inside a span
            v0 = text.index(value)
            assert not any(a < v0 + len(value) and b > v0 for a, b in spans), (value, text)
    assert [("Porto is a Portuguese city ."[a:b]) for a, b in fact_spans("Porto is a Portuguese city .")] == [
        "Portuguese city"
    ]
    assert fact_spans("Anna Berg is a Portuguese painter from Porto .") == []  # the nationality precedes
