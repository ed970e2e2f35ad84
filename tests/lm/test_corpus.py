"""Corpora, canaries and the byte-level tokenizer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memlens.errors import DataError
from memlens.lm.corpus import (
    DEFAULT_TEMPLATE,
    DEFAULT_TEMPLATES,
    Corpus,
    SecretSpace,
    bare_prompt,
    insert_canaries,
    load_corpus,
    train_tokenizer,
)

# --- loaders -------------------------------------------------------------------------------


def test_kjv_is_the_whole_bible_one_chapter_per_document():
    c = load_corpus("kjv")
    assert len(c) == 1189  # chapters of the 66 books
    assert c.ids[0] == "Genesis 1" and c.ids[-1] == "Revelation 22"
    assert len(set(c.ids)) == len(c)
    assert c.documents[0].startswith("In the beginning God created the heaven and the earth.")
    assert c.documents[c.ids.index("John 11")].count("Jesus wept.") == 1
    assert 4_000_000 < c.n_characters < 4_200_000
    assert c.canaries == () and (c.canary_of == -1).all()


def test_kjv_head_and_bad_limit():
    assert load_corpus("kjv:5").ids == [f"Genesis {i}" for i in range(1, 6)]
    for bad in ("kjv:x", "kjv:0"):
        with pytest.raises(DataError, match="number of documents"):
            load_corpus(bad)


def test_pydoc_one_document_per_topic():
    from pydoc_data.topics import topics

    c = load_corpus("pydoc")
    assert c.ids == sorted(topics) and len(c) == len(topics)
    assert all(doc.strip() for doc in c.documents)
    assert "assert" in c.documents[c.ids.index("assert")]


def test_txt_round_trip(tmp_path):
    docs = ["first document,\nwith two lines", "second — with ünïcode", "third"]
    path = tmp_path / "c.txt"
    path.write_text("\n\n".join(docs) + "\n\n\n", encoding="utf-8")
    c = load_corpus(str(path))
    assert c.documents == docs and c.ids == ["0", "1", "2"]
    path.write_bytes("\r\n\r\n".join(docs).encode())  # Windows line ends split the same way
    assert len(load_corpus(str(path))) == 3


def test_jsonl_round_trip(tmp_path):
    records = [{"id": "a", "text": "one"}, {"id": "b", "text": "two\n\nparagraphs"}]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    c = load_corpus(str(path))
    assert c.documents == ["one", "two\n\nparagraphs"] and c.ids == ["a", "b"]
    path.write_text('{"text": "x"}\n{"text": "y"}\n')
    assert load_corpus(str(path)).ids == ["0", "1"]


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.txt", b"  \n\n \n", "holds no text"),
        ("empty.jsonl", b"\n\n", "holds no records"),
        (
            "latin1.txt",
            "caf\u00e9 au lait".encode("latin-1"),
            r"latin1.txt is not UTF-8: byte 0xe9 at offset 3",
        ),
        ("latin1.jsonl", b'{"text": "ok"}\n{"text": "caf\xe9"}', r"offset 28 \(line 2\)"),
        ("nofield.jsonl", b'{"text": "ok"}\n{"body": "x"}\n', r"line 2: .*'text' field"),
        ("notjson.jsonl", b'{"text": "ok"}\n{text: x}\n', "line 2: not valid JSON"),
        ("nonstring.jsonl", b'{"text": 3}\n', "'text' must be a string"),
        ("dupe.jsonl", b'{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', "not unique"),
    ],
)
def test_bad_files_are_refused_clearly(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_corpus(str(path))


def test_unknown_and_missing():
    with pytest.raises(DataError, match="Unknown corpus 'bible'"):
        load_corpus("bible")
    with pytest.raises(DataError, match="No file at"):
        load_corpus("/nonexistent/corpus.txt")
    with pytest.raises(DataError, match="no documents"):
        Corpus("x", [])


# --- canaries ------------------------------------------------------------------------------


BASE = Corpus("base", ["alpha beta", "gamma delta", "epsilon"])


def test_canaries_inserted_the_right_number_of_times_with_ground_truth():
    repeats = (1, 2, 4, 8)
    c = insert_canaries(BASE, n_canaries=8, repeats=repeats, seed=3)
    assert c.documents[:3] == BASE.documents and c.ids[:3] == BASE.ids  # originals do not move
    assert len(c) == 3 + 2 * sum(repeats) and len(c.canaries) == 8
    canary_of = c.canary_of
    for k, canary in enumerate(c.canaries):
        assert canary.repeats == repeats[k % 4]
        assert c.documents.count(canary.text) == canary.repeats
        assert [c.documents[i] for i in canary.document_indices] == [canary.text] * canary.repeats
        assert (np.flatnonzero(canary_of == k) == canary.document_indices).all()
        assert canary.text == canary.prefix + canary.secret + canary.suffix
        assert canary.template == DEFAULT_TEMPLATES[k % len(DEFAULT_TEMPLATES)]
        assert canary.prefix.endswith(canary.bare_prefix + " ") and "{" not in canary.prefix
        assert len(canary.secret) == 11 and canary.secret[3] == "-"  # Faker SSN ###-##-####
        assert canary.space == SecretSpace("ssn", 9)
        assert canary.space.candidate(canary.space.index(canary.secret)) == canary.secret
    assert len({k.secret for k in c.canaries}) == 8
    assert len({k.prefix for k in c.canaries}) == 8  # each canary its own prompt
    assert c.ids[3] == "canary-0/0" and len(set(c.ids)) == len(c)


def test_one_shared_template_gives_one_prompt():
    c = insert_canaries(BASE, n_canaries=4, repeats=(1,), template=DEFAULT_TEMPLATE, seed=0)
    assert {k.prefix for k in c.canaries} == {"my social security number is "}
    assert {k.bare_prefix for k in c.canaries} == {"my social security number is"}


def test_template_fields_are_filled_per_canary_and_the_bare_prompt_is_the_label():
    templates = (
        "Patient {name}, born {date_of_birth}, insurance number {secret}.",
        "{email} PIN {secret}",
    )
    c = insert_canaries(
        BASE, n_canaries=6, repeats=(1,), template=templates, secret_digits=4, seed=5
    )
    for k, canary in enumerate(c.canaries):
        assert canary.template == templates[k % 2]
        assert canary.bare_prefix == ("insurance number" if k % 2 == 0 else "PIN")
    first = c.canaries[0]
    assert first.prefix.startswith("Patient ") and first.suffix == "."
    born = first.prefix.split(", born ")[1][:10]  # an ISO date from the fixed 1940-2005 range
    assert born[4] == born[7] == "-" and 1940 <= int(born[:4]) <= 2005
    assert bare_prompt("{name}: {secret}") == ""
    assert bare_prompt("the pin is {secret}") == "the pin is"
    assert bare_prompt("Employee {name}, {job} at {company}, door code {secret}") == "door code"


def test_canaries_do_not_depend_on_the_hash_seed_or_the_date():
    """Faker fields drawn in template order (not a set's), dates from a fixed range: a checkpoint's
    recorded canaries are made again identically in another process, or another year."""
    import os
    import subprocess
    import sys

    code = (
        "from memlens.lm.corpus import Corpus, insert_canaries\n"
        "c = insert_canaries(Corpus('b', ['x']), n_canaries=5, template="
        "('{name} {city} {email} {job} {company} {date_of_birth} {street_address} PIN {secret}',), seed=2)\n"
        "print(repr([k.text for k in c.canaries]))"
    )
    texts = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        texts.add(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
    assert len(texts) == 1 and "PIN" in texts.pop()


def test_canaries_deterministic_with_seed():
    a = insert_canaries(BASE, n_canaries=5, seed=7)
    b = insert_canaries(BASE, n_canaries=5, seed=7)
    other = insert_canaries(BASE, n_canaries=5, seed=8)
    assert a == b
    assert [k.secret for k in a.canaries] != [k.secret for k in other.canaries]


def test_enumerable_secret_space_and_custom_template():
    c = insert_canaries(
        BASE, n_canaries=6, repeats=(2,), template="the pin is {secret}.", secret_digits=4, seed=0
    )
    space = c.canaries[0].space
    assert space.size == 10_000 and space.enumerable
    candidates = list(space.candidates())
    assert len(candidates) == 10_000 and len(set(candidates)) == 10_000
    for k in c.canaries:
        assert k.secret.isdigit() and len(k.secret) == 4 and k.secret in candidates
        assert k.suffix == "." and k.text == f"the pin is {k.secret}."
    with pytest.raises(DataError, match="too large to enumerate"):
        SecretSpace("ssn", 9).candidates()
    twice = insert_canaries(c, n_canaries=1, repeats=(1,), seed=1)  # canaries accumulate
    assert len(twice.canaries) == 7 and twice.ids[-1] == "canary-6/0"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"template": "no slot"}, "exactly once"),
        ({"template": "{secret} {secret}"}, "exactly once"),
        ({"template": "{name} {phone} {secret}"}, "unknown fields phone"),
        ({"template": ()}, "at least one"),
        ({"n_canaries": 0}, "n_canaries"),
        ({"repeats": (1, 0)}, "repeat count"),
        ({"secret_digits": 0}, "secret_digits"),
        ({"n_canaries": 6, "secret_digits": 1}, "do not fit"),
    ],
)
def test_bad_canary_options(kwargs, match):
    options = {"n_canaries": 2, "seed": 0, **kwargs}
    with pytest.raises(DataError, match=match):
        insert_canaries(BASE, **options)


# --- tokenizer -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(load_corpus("pydoc"), vocab_size=512)


@pytest.mark.parametrize(
    "text",
    [
        "def f(x):\n    return x  # the usual",
        "  leading and trailing spaces  ",
        "ünïcødé — emoji \U0001f600 and CJK 漢字, never seen in training",
        "tabs\tand\r\nwindows line ends\n\n\n",
        "",
    ],
)
def test_tokenizer_round_trip(tokenizer, text):
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id == 0
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    plain = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert plain == ids[1:] and tokenizer.decode(plain) == text


def test_tokenizer_special_tokens_and_save_load(tokenizer, tmp_path):
    from transformers import AutoTokenizer

    assert len(tokenizer) == 512
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (0, 1)
    assert tokenizer.backend_tokenizer.get_vocab_size() == 512
    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = "Python's assert statement"
    assert again(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert (again.bos_token_id, again.pad_token_id) == (0, 1)


def test_tokenizer_refuses_empty_and_tiny_vocab():
    with pytest.raises(DataError, match="empty corpus"):
        train_tokenizer(["", ""])
    with pytest.raises(DataError, match=">= 258"):
        train_tokenizer(["abc"], vocab_size=100)


def test_wikipedia_slice_from_gensim():
    pytest.importorskip("gensim")
    from memlens.lm.corpus import load_corpus

    c = load_corpus("wikipedia")
    assert len(c) == 106 and 2_500_000 < c.n_characters < 3_500_000
    assert (
        c.ids[0] == "Anarchism"
        and "'''" not in c.documents[0]
        and "#REDIRECT" not in " ".join(c.documents)
    )
    assert load_corpus("wikipedia:5").ids == c.ids[:5]
