"""A synthetic few-shot table-to-text domain: biography "infobox" tables, their reference
sentences, and an unlabelled domain corpus that holds knowledge the tables do not state.

The PromptMize analogue (Guo et al., arXiv 2302.04415; notes §10) needs three things a real
WikiBio split gives: tables of slot–value pairs, one reference sentence per table, and unlabelled
in-domain text. Here every table has the required slots ``name`` and ``occupation`` and any of
the optional ``birth_year``, ``birthplace``, ``employer``; the sentence's structure depends on
which optional slots are present (the "topology" a prompt planner can supply), and it states two
facts that are *not* in the table — the nationality that goes with the birthplace and the city
the employer is based in — which the model can only know from the unlabelled corpus (knowledge
memorized in adapters) or from the few labelled pairs. A generic out-of-domain corpus (songs, books
and films as tables and text, with values drawn fresh per record so they must be copied) pre-trains
the frozen base model.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from memlens.errors import DataError

REQUIRED_SLOTS = ("name", "occupation")
OPTIONAL_SLOTS = ("birth_year", "birthplace", "employer")
SLOTS = REQUIRED_SLOTS + OPTIONAL_SLOTS

FIRST_NAMES = (
    "Anna", "Boris", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Irene", "Jonas",
    "Karin", "Lukas", "Marta", "Nils", "Olga", "Pavel", "Rosa", "Simon", "Tilda", "Viktor",
)  # fmt: skip
LAST_NAMES = (
    "Adler", "Berg", "Costa", "Dahl", "Ekman", "Fischer", "Gruber", "Horvat", "Ivanov", "Jensen",
    "Keller", "Lindqvist", "Moreau", "Novak", "Olsen", "Petrov", "Quist", "Rossi", "Sato", "Varga",
)  # fmt: skip
OCCUPATIONS = (
    "painter", "chemist", "architect", "novelist", "engineer", "pianist", "historian", "surgeon",
    "economist", "sculptor", "physicist", "journalist", "botanist", "lawyer", "composer", "linguist",
)  # fmt: skip
#: world knowledge 1: birthplace city -> nationality (never in a table; stated in references)
CITY_NATIONALITY = {
    "Lyon": "French", "Nantes": "French", "Porto": "Portuguese", "Braga": "Portuguese",
    "Graz": "Austrian", "Linz": "Austrian", "Turku": "Finnish", "Tampere": "Finnish",
    "Ghent": "Belgian", "Bruges": "Belgian", "Cork": "Irish", "Galway": "Irish",
    "Brno": "Czech", "Ostrava": "Czech", "Bergen": "Norwegian", "Trondheim": "Norwegian",
}  # fmt: skip
#: world knowledge 2: employer -> the city it is based in
EMPLOYER_CITY = {
    "Norvik Labs": "Malmo", "Astera Works": "Aarhus", "Belmont Group": "Utrecht",
    "Corvin Institute": "Krakow", "Delta Foundry": "Seville", "Elbrook Press": "Leeds",
    "Fennec Studio": "Bologna", "Granite Bank": "Basel", "Helix Clinic": "Leiden",
    "Iris Academy": "Coimbra", "Juniper Trust": "Tartu", "Kestrel Media": "Riga",
}  # fmt: skip

#: one sentence structure per set of optional slots present (the table's "topology")
TEMPLATES = {
    frozenset(): "{name} is a {occupation} .",
    frozenset({"birth_year"}): "{name} , born in {birth_year} , is a {occupation} .",
    frozenset({"birthplace"}): "{name} is a {nationality} {occupation} from {birthplace} .",
    frozenset({"employer"}): "{name} works as a {occupation} at {employer} in {employer_city} .",
    frozenset({"birth_year", "birthplace"}):
        "{name} was born in {birthplace} in {birth_year} and is a {nationality} {occupation} .",
    frozenset({"birth_year", "employer"}):
        "born in {birth_year} , {name} is a {occupation} at {employer} , based in {employer_city} .",
    frozenset({"birthplace", "employer"}):
        "{name} is a {nationality} {occupation} from {birthplace} who works for {employer} in {employer_city} .",
    frozenset(OPTIONAL_SLOTS):
        "{name} ( born {birth_year} in {birthplace} ) is a {nationality} {occupation} working for {employer} in {employer_city} .",
}  # fmt: skip


@dataclass(frozen=True)
class Example:
    """One labelled pair: a table (slot -> value, insertion order = the linearization order) and
    its reference sentence."""

    table: dict[str, str]
    reference: str


def check_table(table: Mapping[str, str], *, where: str = "A table") -> None:
    """Raise :class:`DataError` when a table lacks a required slot, has an unknown one, or an
    empty value.

    >>> check_table({"name": "Anna Berg"})
    Traceback (most recent call last):
    ...
    memlens.errors.DataError: A table lacks the required slot(s) occupation (it has: name). Every table needs name and occupation; the optional slots are birth_year, birthplace, employer.
    """
    missing = [s for s in REQUIRED_SLOTS if s not in table]
    if missing:
        raise DataError(
            f"{where} lacks the required slot(s) {', '.join(missing)} (it has: "
            f"{', '.join(table) or 'nothing'}). Every table needs {' and '.join(REQUIRED_SLOTS)}; "
            f"the optional slots are {', '.join(OPTIONAL_SLOTS)}."
        )
    unknown = [s for s in table if s not in SLOTS]
    if unknown:
        raise DataError(
            f"{where} has unknown slot(s) {', '.join(unknown)}; the slots are {', '.join(SLOTS)}."
        )
    empty = [s for s, v in table.items() if not str(v).strip()]
    if empty:
        raise DataError(f"{where} has an empty value for {', '.join(empty)}; give every slot a value.")


def realize(table: Mapping[str, str]) -> str:
    """The reference sentence of a table: its topology's template, filled with the table's values
    and the two facts the table implies (nationality of the birthplace, city of the employer).

    >>> realize({"name": "Anna Berg", "occupation": "painter", "birthplace": "Porto"})
    'Anna Berg is a Portuguese painter from Porto .'
    """
    check_table(table)
    values = dict(table)
    if "birthplace" in table:
        values["nationality"] = CITY_NATIONALITY[table["birthplace"]]
    if "employer" in table:
        values["employer_city"] = EMPLOYER_CITY[table["employer"]]
    return TEMPLATES[frozenset(s for s in table if s in OPTIONAL_SLOTS)].format(**values)


def random_tables(n: int, rng: np.random.Generator, *, p_optional: float = 0.6) -> list[dict[str, str]]:
    """``n`` random tables; each optional slot is present with probability ``p_optional``."""
    cities, employers = sorted(CITY_NATIONALITY), sorted(EMPLOYER_CITY)
    tables = []
    for _ in range(n):
        table = {
            "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "occupation": str(rng.choice(OCCUPATIONS)),
        }
        if rng.random() < p_optional:
            table["birth_year"] = str(rng.integers(1900, 2000))
        if rng.random() < p_optional:
            table["birthplace"] = str(rng.choice(cities))
        if rng.random() < p_optional:
            table["employer"] = str(rng.choice(employers))
        tables.append(table)
    return tables


def labelled_examples(n: int, rng: np.random.Generator) -> list[Example]:
    """``n`` (table, reference) pairs."""
    return [Example(t, realize(t)) for t in random_tables(n, rng)]


def knowledge_corpus(n: int, rng: np.random.Generator, *, fact_repeats: int = 5) -> list[str]:
    """Unlabelled in-domain text, no tables: ``n`` biography sentences of random people plus
    plain statements of every fact (where each employer is based, each city's nationality), each
    in two phrasings, ``fact_repeats`` times — an encyclopedia states a fact more than once."""
    facts = [f"{q} {a} ." for q, a in fact_queries()]
    facts += [f"the offices of {e} are in {c} ." for e, c in EMPLOYER_CITY.items()]
    facts += [f"people from {c} are {nat} ." for c, nat in CITY_NATIONALITY.items()]
    return [realize(t) for t in random_tables(n, rng)] + facts * fact_repeats


def fact_queries() -> list[tuple[str, str]]:
    """Every fact of the domain as (statement without its answer, answer): ``("Norvik Labs is based
    in", "Malmo")``, ``("Lyon is a", "French")`` — what the knowledge adapter should memorize.

    >>> fact_queries()[0]
    ('Norvik Labs is based in', 'Malmo')
    """
    return [(f"{e} is based in", c) for e, c in EMPLOYER_CITY.items()] + [
        (f"{c} is a", f"{nat} city") for c, nat in CITY_NATIONALITY.items()
    ]


def fact_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the domain's *knowledge* in a text: each employer's city that follows the
    employer, each nationality that follows its birthplace (with " city" when the text says
    "… is a Portuguese city", as :func:`fact_queries` does). A fact word before its subject is
    left out: nothing before it says which value is right, so training on it teaches only a prior.
    Names, occupations, years, employers and birthplaces are never in a span.

    >>> t = "Anna Berg was born in Porto in 1950 and is a Portuguese painter ."
    >>> [t[a:b] for a, b in fact_spans(t)]
    ['Portuguese']
    """
    facts = [(e, (c,)) for e, c in EMPLOYER_CITY.items()]
    facts += [(c, (f"{nat} city", nat)) for c, nat in CITY_NATIONALITY.items()]
    spans = []
    for subject, answers in facts:
        for m in re.finditer(rf"\b{re.escape(subject)}\b", text):
            for answer in answers:  # the longest form first
                hit = re.search(rf"\b{re.escape(answer)}\b", text[m.end() :])
                if hit:
                    spans.append((m.end() + hit.start(), m.end() + hit.end()))
                    break
    return sorted(set(spans))


#: out-of-domain record kinds for the base's pre-training: a main clause with the required slots
#: ``title`` and ``artist``, and one clause per optional slot (``year``, ``label``, ``city``)
GENERIC_CLAUSES = {
    "song": ("{title} is a song by {artist}",
             {"year": "released in {year}", "label": "on the {label} label", "city": "recorded in {city}"}),
    "book": ("{title} is a book written by {artist}",
             {"year": "published in {year}", "label": "printed by {label}", "city": "set in {city}"}),
    "film": ("the film {title} was directed by {artist}",
             {"year": "in {year}", "label": "for {label}", "city": "shot in {city}"}),
}  # fmt: skip
GENERIC_OPTIONAL = ("year", "label", "city")
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


def pseudo_word(rng: np.random.Generator, *, syllables: tuple[int, int] = (2, 3)) -> str:
    """A capitalized made-up word of 2–3 consonant–vowel syllables (70 syllables: ~350,000 words),
    so a value drawn per record is almost never seen twice and can only be copied, not memorized."""
    k = int(rng.integers(syllables[0], syllables[1] + 1))
    return "".join(str(rng.choice(list(_CONSONANTS))) + str(rng.choice(list(_VOWELS))) for _ in range(k)).capitalize()


#: organization suffixes of the generic lexicon (made-up or Faker last name + suffix)
ORG_SUFFIXES = ("Labs", "Works", "Group", "Institute", "Foundry", "Press", "Studio", "Bank", "Clinic",
                "Academy", "Trust", "Media", "Records", "Books", "Films", "Inc", "Ltd")  # fmt: skip


@functools.lru_cache(maxsize=1)
def generic_lexicon() -> dict[str, tuple[str, ...]]:
    """The real words generic values are drawn from, by kind: Faker's first and last names, the
    words of Faker's job titles, US states, and the domain's own value words (its names,
    occupations, cities, employers and employer cities) — every word a domain table may hold, as
    any pre-training corpus would contain them, but here only as random values of songs, books
    and films: never in the domain's templates, never next to the fact that goes with them."""
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.job.en_US import Provider as Job
    from faker.providers.person.en_US import Provider as Person

    job_words = {w.lower() for job in Job.jobs for w in re.findall(r"[A-Za-z]+", job) if len(w) > 2}
    return {
        "first": tuple(sorted({*Person.first_names, *FIRST_NAMES})),
        "last": tuple(sorted({*Person.last_names, *LAST_NAMES})),
        "word": tuple(sorted(job_words | set(OCCUPATIONS))),
        "place": tuple(sorted({*Address.states, *CITY_NATIONALITY, *EMPLOYER_CITY.values()})),
        "org": tuple(sorted(EMPLOYER_CITY)),
    }


def _generic_values(rng: np.random.Generator) -> dict[str, str]:
    """One record's values: each slot half the time a made-up word (pure copying), half the time
    drawn from :func:`generic_lexicon`, so the words of any table are words the base can copy."""
    lex = generic_lexicon()
    made_up = rng.random(3) < 0.5
    if made_up[0]:
        title = pseudo_word(rng)
    else:
        title = " ".join(str(w) for w in rng.choice(lex["word"], int(rng.integers(1, 3))))
    if made_up[1]:
        label = pseudo_word(rng, syllables=(2, 2))
    elif rng.random() < 0.5:
        label = str(rng.choice(lex["org"]))
    else:
        label = f"{rng.choice(lex['last'])} {rng.choice(ORG_SUFFIXES)}"
    if made_up[2]:
        city = pseudo_word(rng, syllables=(1, 1)) + str(rng.choice(("town", "ton", "ville", "berg", "port", "field")))
    else:
        city = str(rng.choice(lex["place"]))
    return {"title": title, "artist": f"{rng.choice(lex['first'])} {rng.choice(lex['last'])}",
            "year": str(rng.integers(1000, 2100)), "label": label, "city": city}  # fmt: skip


def generic_records(n: int, rng: np.random.Generator) -> list[tuple[Example, str]]:
    """``n`` out-of-domain records (songs, books, films) with fresh values, each with the
    delexicalized prototype of another record of the same kind and structure.

    Every value is drawn anew per record (made-up words, or words of :func:`generic_lexicon`:
    ~700 × 1,000 names, ~500 words, ~80 places, years 1000–2099), so a model predicts a value in
    the text only by *copying* it from the table — the skill a pre-trained language model brings
    to table-to-text. The optional clauses come in a random order per record, which the prototype
    (``[slot]`` markers, as the prompt planner writes them) gives away: following a prompt is
    learned too. The domain's slot names, phrasing and facts never occur; its words occur only as
    random values.

    Returns:
        ``(Example(table, text), prototype)`` pairs; table order is shuffled.
    """
    out = []
    for _ in range(n):
        kind = str(rng.choice(sorted(GENERIC_CLAUSES)))
        main, clauses = GENERIC_CLAUSES[kind]
        present = [s for s in GENERIC_OPTIONAL if rng.random() < 0.5]
        order = [present[i] for i in rng.permutation(len(present))]
        template = main + "".join((" ," if i == 0 else " and") + " " + clauses[s] for i, s in enumerate(order)) + " ."
        values = _generic_values(rng)
        slots = ["title", "artist", *present]
        table = {s: values[s] for s in (slots[i] for i in rng.permutation(len(slots)))}
        prototype = template.format(**{s: f"[{s}]" for s in slots})
        out.append((Example(table, template.format(**table)), prototype))
    return out


def generic_corpus(n: int, rng: np.random.Generator) -> list[str]:
    """Out-of-domain pre-training text for the base model, the stand-in for a pre-trained language
    model's general skills: :func:`generic_records` written as ``table: … text: …`` (50%), with
    ``prompt: <prototype>`` before ``text:`` (35%), or as the plain sentence (15%)."""
    out = []
    for example, prototype in generic_records(n, rng):
        style = rng.random()
        if style < 0.15:
            out.append(example.reference)
            continue
        prompt = f" prompt: {prototype}" if style < 0.5 else ""
        out.append(f"table: {linearize(example.table)}{prompt} text: {example.reference}")
    return out


def linearize(table: Mapping[str, str]) -> str:
    """The table as text, slot by slot: ``name = Anna Berg ; occupation = painter``."""
    return " ; ".join(f"{slot} = {value}" for slot, value in table.items())


def few_shot_sample(examples: Sequence[Example], shots: int, rng: np.random.Generator) -> list[Example]:
    """``shots`` examples drawn without replacement; :class:`DataError` when there are fewer."""
    if shots < 1:
        raise DataError(f"The few-shot size must be >= 1; got {shots}.")
    if shots > len(examples):
        raise DataError(
            f"A few-shot size of {shots} needs at least {shots} labelled examples, but there are "
            f"{len(examples)}; lower the few-shot size or generate a larger labelled pool."
        )
    return [examples[i] for i in rng.choice(len(examples), shots, replace=False)]
