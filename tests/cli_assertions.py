"""Assertions shared by the CLI tests (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import re


def one_paragraph(err: str, *needles: str) -> None:
    """``err`` is a single 'error: …' paragraph, no traceback, mentioning every needle (regexes)."""
    text = err.strip()
    assert text.startswith("error: "), err
    assert "Traceback" not in err and "\n\n" not in text, err
    for needle in needles:
        assert re.search(needle, text), (needle, err)
