"""``memlens infer-attributes``: guess personal attributes from profiles' text, before and after anonymization.

Kept light at import (no pandas, scikit-learn or transformers): the main ``memlens`` app imports it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from memlens.errors import DataError, MemlensError

__all__ = ["infer_attributes", "read_profiles", "write_profiles"]

_SHOWN = 5  # problems named in one error message


def read_profiles(path: Path, attributes: list[str] | None = None) -> tuple[list[dict], list[str]]:
    """Profiles from a JSONL file, each checked; ``(profiles, attributes)``.

    Every non-blank line must be a JSON object with ``comments`` (a list of strings) or ``text`` (a
    string), and ``attributes`` (an object) holding each requested attribute; ``hardness``, when
    present, maps attributes to whole numbers. ``attributes=None`` requests those of the first
    profile. Each profile gets ``_line`` (its 1-based line). Raises :class:`DataError` naming the
    first few bad lines and what is wrong with each.
    """
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"No profiles file at {path}.") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e}); save it as UTF-8 JSONL, one profile object a line.") from None
    profiles, problems = [], []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"line {number} is not JSON ({e.msg} at column {e.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {number} is a JSON {type(obj).__name__.replace('dict', 'object')}, not an object")
            continue
        obj["_line"] = number
        profiles.append(obj)
    if not profiles and not problems:
        raise DataError(f"{path} holds no profiles; write one JSON object a line.")
    if attributes is None and profiles:
        first = profiles[0].get("attributes")
        attributes = sorted(first) if isinstance(first, dict) else []
        if not attributes:
            problems.append(f"line {profiles[0]['_line']} (the first profile) has no 'attributes' object to take the "
                            "attributes from; pass --attributes")
    for p in profiles:
        where = f"line {p['_line']}" + (f" (profile {p['id']})" if "id" in p else "")
        comments = p.get("comments")
        if comments is None and not isinstance(p.get("text"), str):
            problems.append(f"{where} has neither 'comments' (a list of strings) nor 'text' (a string)")
        elif comments is not None and (not isinstance(comments, list) or not all(isinstance(c, str) for c in comments)):
            problems.append(f"{where}: 'comments' must be a list of strings")
        truth = p.get("attributes")
        if not isinstance(truth, dict):
            problems.append(f"{where} has no 'attributes' object")
            continue
        missing = [a for a in attributes or [] if a not in truth or truth[a] is None or str(truth[a]).strip() == ""]
        if missing:
            problems.append(f"{where} lacks the attribute{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        hardness = p.get("hardness")
        if hardness is not None and (not isinstance(hardness, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in hardness.values())):
            problems.append(f"{where}: 'hardness' must map attributes to whole numbers")
    if problems:
        more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise DataError(
            f"{path} has {len(problems)} bad profile line{'s' if len(problems) > 1 else ''}: "
            + "; ".join(problems[:_SHOWN]) + more
            + ". Each line must be one JSON object with 'comments' (or 'text') and an 'attributes' object holding "
            f"{', '.join(attributes or []) or 'the attributes to infer'} (choose them with --attributes). Nothing was written.")
    return profiles, list(attributes or [])


def write_profiles(path: Path, profiles: list[dict]) -> None:
    """Write profiles as JSONL, whole or not at all."""
    from memlens.files import atomic_path

    with atomic_path(Path(path), ".jsonl") as tmp:
        tmp.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in profiles), encoding="utf-8")


def _adversary(spec: str, max_new_tokens: int, read_numbers: bool = True):
    if spec == "tfidf":
        from memlens.inference.adversaries import TfidfAdversary

        return TfidfAdversary(read_numbers=read_numbers)
    if spec.startswith("hf:") and len(spec) > 3:
        from memlens.inference.adversaries import CausalLMAdversary

        return CausalLMAdversary(Path(spec[3:]), max_new_tokens=max_new_tokens)
    raise MemlensError(f"--adversary takes tfidf or hf:PATH (a local causal-LM checkpoint folder); got '{spec}'.")


def _anonymizer(mode: str, gazetteer: Path | None):
    if mode not in ("none", "gazetteer", "stars"):
        raise MemlensError(f"--anonymize takes none, gazetteer or stars; got '{mode}'.")
    if mode == "none":
        if gazetteer is not None:
            raise MemlensError("--gazetteer is the anonymizer's word list; it needs --anonymize gazetteer or stars.")
        return None
    from memlens.inference.anonymize import CATEGORIES, Anonymizer

    terms = None
    if gazetteer is not None:
        try:
            terms = json.loads(Path(gazetteer).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MemlensError(f"No gazetteer file at {gazetteer}.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise MemlensError(f"{gazetteer} is not a JSON file ({e}).") from None
        ok = isinstance(terms, dict) and all(
            k in CATEGORIES and isinstance(v, list) and all(isinstance(t, str) for t in v) for k, v in terms.items())
        if not ok:
            raise MemlensError(
                f"{gazetteer} must be a JSON object mapping entity categories ({', '.join(CATEGORIES)}) to lists of "
                'strings, e.g. {"LOCATION": ["Lyon", "Berlin"], "PERSON": ["Anna"]}.')
    return Anonymizer(terms, mode="tags" if mode == "gazetteer" else "stars")


def infer_attributes(
    out: Annotated[Path, typer.Option(help="Output folder (predictions.parquet, inference.json, report.html); with --make-profiles, the JSONL file to write.")],
    texts: Annotated[Path | None, typer.Option(help="Profiles to attack, JSONL: one object a line with 'comments' (list of strings) or 'text', 'attributes' (the truth) and optionally 'hardness' (attribute → 1–5).", show_default=False)] = None,
    adversary: Annotated[str | None, typer.Option(help="tfidf (TF-IDF + logistic regression, trained on --train or cross-fitted over --texts) or hf:PATH (a local causal LM, prompted as in Staab et al.).", show_default=False)] = None,
    train: Annotated[Path | None, typer.Option(help="Labelled profiles (JSONL, as --texts) to train the tfidf adversary on. Without it, 5-fold cross-fitting over --texts.", show_default=False)] = None,
    anonymize: Annotated[str, typer.Option(help="none, gazetteer (entities → <CATEGORY> tags) or stars (→ ***): also attack the anonymized text and report the change.")] = "none",
    gazetteer: Annotated[Path | None, typer.Option(help="JSON object category → list of terms for the anonymizer (default: the synthetic generator's cities, countries, names and job titles).", show_default=False)] = None,
    attributes: Annotated[str | None, typer.Option(help="Comma-separated attributes to infer (default: those of the first profile).", show_default=False)] = None,
    make_profiles: Annotated[int | None, typer.Option(help="Instead: write N synthetic profiles (Faker people with cue sentences and hardness labels) to --out as JSONL.", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seeds the synthetic profiles and the cross-fitting folds.")] = 0,
    max_new_tokens: Annotated[int, typer.Option(help="Answer length of an hf: adversary.")] = 256,
    read_numbers: Annotated[bool, typer.Option("--read-numbers/--no-read-numbers", help="The tfidf adversary also reads what each stated number means (\"I'm 34\" → an age in the thirties, \"$85,000 a year\" → a high income), as an LLM would; --no-read-numbers: word and character n-grams alone.")] = True,
) -> None:
    """Infer personal attributes from text that need not state them (Staab et al., ICLR 2024).

    Writes OUT/predictions.parquet (per profile and attribute: truth, guesses, correct, hardness),
    OUT/inference.json (top-1/top-3 accuracy by attribute and hardness with 95% intervals, the
    majority-class rate, and the change after anonymization) and OUT/report.html.
    """
    from rich.console import Console

    console = Console(emoji=False, highlight=False)
    if make_profiles is not None:
        if texts is not None or adversary is not None or train is not None:
            raise MemlensError("--make-profiles writes synthetic profiles; run the attack as a second command with --texts.")
        if make_profiles < 1:
            raise MemlensError(f"--make-profiles needs a positive number of profiles; got {make_profiles}.")
        if out.is_dir():
            raise MemlensError(f"{out} is a folder; with --make-profiles, --out is the JSONL file to write.")
        from memlens.inference.profiles import make_profiles as generate

        write_profiles(out, generate(make_profiles, seed=seed))
        console.print(f"wrote {make_profiles} synthetic profiles to {out}", markup=False)
        return
    if texts is None or adversary is None:
        raise MemlensError("Pass --texts FILE.jsonl and --adversary tfidf|hf:PATH (or --make-profiles N to create profiles).")
    if out.exists() and not out.is_dir():
        raise MemlensError(f"{out} is a file; --out is the folder for predictions.parquet, inference.json and report.html.")
    wanted = [a.strip() for a in attributes.split(",") if a.strip()] if attributes is not None else None
    if wanted is not None and not wanted:
        raise MemlensError("--attributes needs at least one attribute name, e.g. location,age.")
    profiles, wanted = read_profiles(texts, wanted)
    training = None
    if train is not None:
        if not adversary == "tfidf":
            raise MemlensError("--train trains the tfidf adversary; an hf: model is used as it is. Drop --train.")
        training, _ = read_profiles(train, wanted)
    anonymizer = _anonymizer(anonymize, gazetteer)
    attacker = _adversary(adversary, max_new_tokens, read_numbers)

    from memlens.inference.adversaries import run_inference
    from memlens.inference.scoring import summarize

    predictions = run_inference(
        profiles, wanted, attacker, train=training, anonymizer=anonymizer,
        anonymizer_mode=None if anonymizer is None else anonymizer.mode, seed=seed,
        progress=lambda s: console.print(s, markup=False),
    )  # fmt: skip
    summary = {
        "kind": "attribute-inference",
        "texts_file": str(texts),
        "adversary": attacker.name,
        "training": f"{train} ({len(training)} profiles)" if training is not None else
        ("none (a prompted model)" if not attacker.trainable else "5-fold cross-fitting over the profiles"),
        "anonymizer": anonymize,
        "gazetteer": str(gazetteer) if gazetteer else ("default" if anonymizer is not None else None),
        "profiles": len(profiles),
        "attributes": wanted,
        "seed": seed,
        "truncated_prompts": getattr(attacker, "truncated", 0),
        **summarize(predictions),
    }
    _write(out, predictions, summary)
    original = summary["texts"]["original"]["overall"]["top1"]["rate"]
    line = f"top-1 accuracy {100 * original:.1f}% over {len(profiles)} profiles × {len(wanted)} attributes"
    if "anonymized" in summary["texts"]:
        line += f"; after anonymization {100 * summary['texts']['anonymized']['overall']['top1']['rate']:.1f}%"
    console.print(f"{line} → {out}/report.html", markup=False, soft_wrap=True)


def _write(out: Path, predictions, summary: dict) -> None:
    """predictions.parquet, inference.json and report.html, each written whole (atomic renames)."""
    from memlens.files import atomic_path, plain_json, write_json
    from memlens.report.inference_section import build_inference
    from memlens.report.page import save_page

    summary = plain_json(summary)
    page = build_inference(summary, name=out.name)  # rendered first: a page that fails leaves nothing behind
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "predictions.parquet", ".parquet") as tmp:
        predictions.to_parquet(tmp, index=False)
    write_json(out / "inference.json", summary)
    save_page(out, page)
