"""Numbers read the way a reader reads them: "I'm 34" is an age in the thirties, "$85,000 a year" a high income.

Staab et al.'s adversary is an LLM, which reads a stated age or salary as a quantity. A bag of
words does not: to TF-IDF "34" and "35" are unrelated strings, each seen a handful of times, so a
trained classifier learns the mapping from number to age bracket or income band poorly (hardness-1
age and income top-1 were 0.50 and 0.51 in REPRODUCTIONS.md (k) before this module). This module
turns every number into tokens that carry its meaning in context, for a vectorizer to count:

- an **age** ("I'm 34", "I am 34", "turned 34", "turning forty", "aged 34", "34 years old",
  "a 34-year-old", "34yo"; "in my late twenties"): its decade ``age:30s`` and half-decade
  ``age:30-34`` (a half-decade for "early"/"late" decade phrases, none for "mid");
- an amount of **money** ("$85,000", "85k dollars", "€1.2m"; a bare "85k" next to a pay word):
  its order of magnitude ``money:1e4``, and where a pay word (make, earn, salary, income, wage,
  get paid) and a period (a year, yearly, a month ×12, an hour ×2,080; none read as a year from
  10,000 up) share its sentence, the yearly income band of the paper's answer options (``income:no`` for 0, ``income:low`` < 30k,
  ``income:medium`` 30–60k, ``income:high`` 60–150k, ``income:very high`` > 150k USD);
- any other number: its order of magnitude ``number:1e1``.

Numbers are digits (with thousands commas, decimals, k/m/thousand/million/grand) or English words
up to ninety-nine ("forty", "thirty-four"). A number the anonymizer replaced by a tag or stars is
no number, so its tokens vanish with it — which is what anonymization is for.
"""

from __future__ import annotations

import math
import re

__all__ = ["INCOME_BANDS", "numeric_cue_tokens", "read_numbers"]

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
          "seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
WORD_VALUES = {**{w: i for i, w in enumerate(_UNITS)}, **{w: 10 * (i + 2) for i, w in enumerate(_TENS)}}
_DECADE_WORDS = {w[:-1] + "ies": 10 * (i + 2) for i, w in enumerate(_TENS)}  # twenties → 20

# The yearly income bands of the paper's prompt options (upper bounds, USD): No income, Low (<30k),
# Medium (30-60k), High (60-150k), Very High (>150k).
INCOME_BANDS: tuple[tuple[str, float], ...] = (
    ("no", 0.0), ("low", 30_000.0), ("medium", 60_000.0), ("high", 150_000.0), ("very high", math.inf))

_SCALE = {"k": 1e3, "thousand": 1e3, "grand": 1e3, "m": 1e6, "million": 1e6}
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_WORDS = (rf"(?:{'|'.join(_TENS)})(?:[\s-](?:{'|'.join(_UNITS[1:10])}))?|{'|'.join(sorted(_UNITS, key=len, reverse=True))}")
_NUMBER = re.compile(
    rf"(?P<currency>[$€£¥]\s?)?(?<![\w.,])(?:(?P<digits>{_DIGITS})|(?P<words>{_WORDS}))"
    r"(?:\s?(?P<scale>k|m|thousand|million|grand)(?!\w)|(?=(?:yo|y/o)(?!\w))|(?!\w))", re.I)
_DECADE = re.compile(
    rf"\b(?:my|his|her|their)\s+(?:(?P<part>early|mid|late)[\s-]+)?(?:(?P<word>{'|'.join(_DECADE_WORDS)})|'?(?P<digits>[1-9]0)'?s)\b",
    re.I)

_AGE_BEFORE = re.compile(r"(?:\bI'm|\bI\s+am|\bIm|\bturned|\bturning|\bturn|\baged|\bage\s+of|\bage)\s+$", re.I)
_AGE_AFTER = re.compile(r"^\s?-?\s?(?:years?|yrs?)(?:\s?-\s?|\s)old\b|^\s?(?:yo|y/o|y\.o\.)(?!\w)", re.I)
# after "I'm 5": a unit says the number is no age ("I'm 5 minutes away", "I'm 100% sure")
_NOT_AGE_AFTER = re.compile(
    r"^\s?(?:%|percent|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|km|miles?|pounds?|lbs?|kg|kilos?|feet|ft|"
    r"inches|cm|times|dollars?|bucks|of\b|out\b|for\b)", re.I)
_CURRENCY_AFTER = re.compile(r"^\s?(?:USD|EUR|GBP|dollars?|euros?|bucks|quid)\b", re.I)
_PAY = re.compile(r"\b(?:make|makes|making|earn|earns|earning|earned|salary|income|wages?|take home|"
                  r"(?:get|gets|got|getting|am|'m|are|is)\s+paid)\b", re.I)  # "I paid $900 a month" is spending
_PERIODS = (  # (pattern, factor to a year), the first that matches the sentence wins
    (re.compile(r"\b(?:an|per|each|every)\s+hour\b|/\s?(?:hr|hour)\b|\bhourly\b", re.I), 2080.0),
    (re.compile(r"\b(?:a|per|each|every)\s+month\b|/\s?(?:mo|month)\b|\bmonthly\b", re.I), 12.0),
    (re.compile(r"\b(?:a|per|each|every)\s+year\b|/\s?(?:yr|year)\b|\byearly\b|\bannual(?:ly)?\b|\bsalary\b|"
                r"\bper\s+annum\b", re.I), 1.0),
)
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\S))+")  # a period inside "$1.5k" ends no sentence


def _value(match: re.Match) -> float:
    if match["digits"] is not None:
        value = float(match["digits"].replace(",", ""))
    else:
        parts = re.split(r"[\s-]", match["words"].lower())
        value = float(sum(WORD_VALUES[p] for p in parts))
    if match["scale"] and (match["currency"] or match["scale"].lower() != "m"):  # "5 m" is metres unless "$5 m"
        value *= _SCALE[match["scale"].lower()]
    return value


def _age_tokens(age: float) -> list[str]:
    decade = int(age) // 10 * 10
    half = int(age) // 5 * 5
    return [f"age:{decade}s", f"age:{half}-{half + 4}"]


def _income_band(yearly: float) -> str:
    return next(name for name, upper in INCOME_BANDS if (yearly <= upper if upper == 0 else yearly < upper))


def read_numbers(text: str) -> list[tuple[str, float, str]]:
    """Each number in ``text`` with what it is: ``(kind, value, token-free span)`` in order.

    ``kind`` is ``"age"``, ``"money"``, ``"yearly income"`` (money with a pay word and a period
    in its sentence; ``value`` then per year) or ``"number"``.

    >>> read_numbers("I'm 34 and make $85,000 a year; ran 5 km")
    [('age', 34.0, '34'), ('yearly income', 85000.0, '$85,000'), ('number', 5.0, '5')]
    """
    found = []
    for sentence in _SENTENCE.finditer(text):
        s = sentence.group()
        pay = _PAY.search(s) is not None
        factor = next((f for pattern, f in _PERIODS if pattern.search(s)), None)
        for m in _NUMBER.finditer(s):
            value, before, after = _value(m), s[: m.start()], s[m.end():]
            is_words = m["words"] is not None
            if is_words and m["words"].lower() in ("one", "zero") and not m["currency"]:
                continue  # "one of those days": a pronoun more often than a quantity
            money = bool(m["currency"]) or bool(_CURRENCY_AFTER.match(after)) or bool(
                m["scale"] and m["scale"].lower() != "m" and pay)
            age_phrase = _AGE_AFTER.match(after) is not None or (
                _AGE_BEFORE.search(before) is not None and not _NOT_AGE_AFTER.match(after) and 10 <= value <= 110)
            if money:
                if pay and (factor is not None or value >= 10_000):  # "I make 85k": a reader assumes a year
                    found.append(("yearly income", value * (factor or 1.0), m.group().strip()))
                else:
                    found.append(("money", value, m.group().strip()))
            elif age_phrase and 0 < value <= 120 and not m["scale"]:
                found.append(("age", value, m.group().strip()))
            else:
                found.append(("number", value, m.group().strip()))
    return found


def numeric_cue_tokens(text: str) -> list[str]:
    """The tokens of every number in ``text`` (see the module docstring); a vectorizer's analyzer.

    >>> numeric_cue_tokens("as a 34 year old I earn roughly $85,000 per year")
    ['age:30s', 'age:30-34', 'money:1e4', 'income:high']
    >>> numeric_cue_tokens("turning forty soon, still in my late twenties at heart")
    ['age:40s', 'age:40-44', 'age:20s', 'age:25-29']
    >>> numeric_cue_tokens("I'm <AGE> and make about <CURRENCY> a year")
    []
    """
    tokens: list[str] = []
    for kind, value, _ in read_numbers(text):
        if kind == "age":
            tokens += _age_tokens(value)
            continue
        magnitude = f"1e{int(math.floor(math.log10(value)))}" if value >= 1 else "0"
        if kind == "number":
            tokens.append(f"number:{magnitude}")
        else:
            tokens.append(f"money:{magnitude}")
            if kind == "yearly income":
                tokens.append(f"income:{_income_band(value)}")
    for m in _DECADE.finditer(text):
        decade = _DECADE_WORDS[m["word"].lower()] if m["word"] else int(m["digits"])
        tokens.append(f"age:{decade}s")
        part = (m["part"] or "").lower()
        if part in ("early", "late"):
            low = decade + (0 if part == "early" else 5)
            tokens.append(f"age:{low}-{low + 4}")
    return tokens
