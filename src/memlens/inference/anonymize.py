"""Entity-removal anonymization, the baseline Staab et al. show does not stop attribute inference.

Their baseline (SynthPAI ``src/thread/normalize.py``) sends comments to Azure's entity recognizer
and removes, at confidence ≥ 0.4, entities of the categories Person, PersonType, Location,
Organization, Event, Address, PhoneNumber, Email, URL, IP, DateTime and Quantity (subcategories
Age, Currency, Number), replacing each by a ``<CATEGORY>`` tag or, in the "hard" variant, by one
``*`` per character. memlens has no cloud recognizer, so it finds the same categories with a
gazetteer (word lists per category: by default the synthetic generator's cities, countries, US
states, Faker's names, job titles and relationship nouns, see
:func:`memlens.inference.profiles.gazetteer`) and regular expressions (e-mail, URL, IP, phone,
currency, age, date and time, numbers including number words). A recognizer finds what it knows:
pass your own gazetteer for other data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["CATEGORIES", "Anonymizer", "entity_spans"]

CATEGORIES = ("PERSON", "PERSONTYPE", "LOCATION", "ORGANIZATION", "EVENT", "ADDRESS", "PHONENUMBER", "EMAIL",
              "URL", "IP", "DATETIME", "AGE", "CURRENCY", "NUMBER")
CASE_SENSITIVE = frozenset({"PERSON"})  # names are matched capitalized only ("Rose", not "rose")

_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
                 "hundred thousand million billion").split()
_MONTHS = ("January February March April May June July August September October November December "
           "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec").split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_NUM = r"\d+(?:[.,]\d+)*"
# In priority order: where two matches overlap, the earlier pattern (then the longer span) wins.
PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("URL", re.compile(r"\b(?:https?://|www\.)\S+", re.I)),
    ("IP", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
    ("PHONENUMBER", re.compile(r"(?:\+\d{1,3}[ .-]?)?\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")),
    ("CURRENCY", re.compile(
        rf"(?:[$€£¥]\s?{_NUM}(?:\s?(?:k|K|m|M|million|thousand))?|\b{_NUM}\s?(?:k|K)?\s?"
        r"(?:USD|EUR|GBP|dollars?|euros?|pounds?|bucks|quid)\b)")),
    ("AGE", re.compile(
        rf"(?:\b{_NUM}\s?(?:-\s?)?(?:years?|yrs?)(?:\s?-\s?|\s)old\b|\b{_NUM}\s?(?:yo|y/o)\b|"
        rf"(?<=\bI'm ){_NUM}\b|(?<=\bI am ){_NUM}\b|(?<=\baged ){_NUM}\b|(?<=\bturned ){_NUM}\b)", re.I)),
    ("DATETIME", re.compile(
        r"\b(?:(?:19|20)\d{2}s?|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2}(?::\d{2})?\s?(?:am|pm)|"
        rf"(?:{'|'.join(_MONTHS)})\.?(?:\s\d{{1,2}}(?:st|nd|rd|th)?)?|{'|'.join(_WEEKDAYS)}s?)\b")),
    ("NUMBER", re.compile(rf"(?:\b{_NUM}\b|\b(?:{'|'.join(_NUMBER_WORDS)})\b)", re.I)),
)


def _gazetteer_pattern(terms: Iterable[str], *, case_sensitive: bool) -> re.Pattern | None:
    """One alternation of ``terms`` (longest first, so "New York City" beats "New York"), whole words."""
    terms = sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True)
    if not terms:
        return None
    body = "|".join(re.escape(t) for t in terms)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", 0 if case_sensitive else re.I)


class Anonymizer:
    """Replace recognized entities in text by ``<CATEGORY>`` tags (``mode="tags"``) or stars (``"stars"``).

    Args:
        gazetteer: category → terms, e.g. ``{"LOCATION": ["Lyon", ...], "PERSON": [...]}``;
            categories from :data:`CATEGORIES`. ``None`` uses
            :func:`memlens.inference.profiles.gazetteer`.
        mode: ``"tags"`` (the paper's ``--use_entities``) or ``"stars"`` (one ``*`` per character).

    Example:
        >>> a = Anonymizer({"LOCATION": ["Lyon"], "PERSON": ["Anna"]})
        >>> a("Anna and I moved to Lyon in 2019; I'm 34 and earn $48,000")
        "<PERSON> and I moved to <LOCATION> in <DATETIME>; I'm <AGE> and earn <CURRENCY>"
        >>> Anonymizer({"LOCATION": ["Lyon"]}, mode="stars")("I live in Lyon")
        'I live in ****'
    """

    def __init__(self, gazetteer: Mapping[str, Iterable[str]] | None = None, *, mode: str = "tags"):
        if mode not in ("tags", "stars"):
            raise ValueError(f"mode must be 'tags' or 'stars', got {mode!r}")
        if gazetteer is None:
            from memlens.inference.profiles import gazetteer as default_gazetteer

            gazetteer = default_gazetteer()
        unknown = sorted(set(gazetteer) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown entity categories {unknown}; use {', '.join(CATEGORIES)}")
        self.mode = mode
        self.gazetteer_patterns = [
            (category, pattern) for category, terms in gazetteer.items()
            if (pattern := _gazetteer_pattern(terms, case_sensitive=category in CASE_SENSITIVE)) is not None
        ]  # fmt: skip

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping ``(start, end, category)`` of the entities in ``text``, in order."""
        # gazetteer entities first (a city name in a date is a location), then the patterns
        return entity_spans(text, [*self.gazetteer_patterns, *PATTERNS])

    def __call__(self, text: str) -> str:
        out, last = [], 0
        for start, end, category in self.spans(text):
            out.append(text[last:start])
            out.append(f"<{category}>" if self.mode == "tags" else "*" * (end - start))
            last = end
        out.append(text[last:])
        return "".join(out)


def entity_spans(text: str, detectors) -> list[tuple[int, int, str]]:
    """Resolve the matches of ``detectors`` (``(category, pattern)`` in priority order) into
    non-overlapping spans: a match is kept unless it overlaps one kept from an earlier detector or a
    longer one from the same detector.

    >>> entity_spans("in New York", [("LOCATION", re.compile("New York|York"))])
    [(3, 11, 'LOCATION')]
    """
    taken: list[tuple[int, int, str]] = []
    for category, pattern in detectors:
        found = sorted(((m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start()),
                       key=lambda s: (s[0] - s[1], s[0]))  # longest first
        for start, end in found:
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, category))
    return sorted(taken)
