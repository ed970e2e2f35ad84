"""A synthetic few-shot table-to-text domain: biography "infobox" tables, their reference
sentences, and an unlabelled domain corpus that holds knowledge the tables do not state.

The PromptMize analogue (Guo et al., arXiv 2302.04415; notes §10) needs three things a real
WikiBio split gives: tables of slot–value pairs, one reference sentence per table, and unlabelled
in-domain text. Here every table has the required slots ``name`` and ``occupation`` and any of
the optional ``birth_year``, ``birthplace``, ``employer``; the sentence's structure depends on
which optional slots are present (the "topology" a prompt planner can supply), and it states two
facts that are *not* in the table — the nationality that goes with the birthplace and the city
the employer is based in — which the model can only know from the unlabelled corpus (knowledge
memorized in adapters) or from the few labelled pairs. A generic out-of-domain corpus (songs and
books) pre-trains the frozen base model.
"""

from __future__ import annotations

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


def knowledge_corpus(n: int, rng: np.random.Generator) -> list[str]:
    """Unlabelled in-domain text, no tables: ``n`` biography sentences of random people plus one
    plain statement of every fact (where each employer is based, each city's nationality)."""
    facts = [f"{e} is based in {c} ." for e, c in EMPLOYER_CITY.items()]
    facts += [f"{c} is a {nat} city ." for c, nat in CITY_NATIONALITY.items()]
    return [realize(t) for t in random_tables(n, rng)] + facts


def generic_corpus(n: int, rng: np.random.Generator) -> list[str]:
    """Out-of-domain text (songs and books) to pre-train the base model, the stand-in for a
    pre-trained language model's general skills: plain sentences, and records written as
    ``table: … text: …`` (half with a ``prompt:`` sentence of the same structure), so the base can
    copy values from a table and follow a prototype — but it has never seen the domain's phrasing,
    cities, employers, occupations or slot names."""
    words = ("Blue", "River", "Night", "Silver", "Garden", "Winter", "Stone", "Golden", "Road", "Fire")
    genres = ("folk", "jazz", "pop", "rock", "soul", "blues")
    structures = (
        "{title} is a {genre} song by {artist} , released in {year} .",
        "{title} is a novel written by {artist} and published in {year} .",
        "the album {title} was recorded by {artist} in {year} and is a {genre} record .",
    )

    def record():
        return {"title": f"{rng.choice(words)} {rng.choice(words)}", "genre": str(rng.choice(genres)),
                "artist": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                "year": str(rng.integers(1900, 2000))}  # fmt: skip

    out = []
    for _ in range(n):
        kind = int(rng.integers(len(structures)))
        fields = record()
        sentence = structures[kind].format(**fields)
        style = rng.integers(3)
        if style == 0:
            out.append(sentence)
            continue
        used = [k for k in fields if "{" + k + "}" in structures[kind]]
        table = " ; ".join(f"{k} = {fields[k]}" for k in rng.permutation(used))
        prompt = ""
        if style == 2:
            prompt = " prompt: " + structures[kind].format(**record())
        out.append(f"table: {table}{prompt} text: {sentence}")
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
