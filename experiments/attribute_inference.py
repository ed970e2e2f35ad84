"""Reproduction: personal attributes inferred from text that never states them, and entity removal
does not stop it (Staab et al., "Beyond Memorization", ICLR 2024) — the notes' CPU experiment.

No LLM is available here, so a trained text classifier plays the adversary; it reads each stated
number as a reader does ("I'm 34" → an age in the thirties, "$85,000 a year" → a high income:
``memlens.inference.numbers``; ``--no-read-numbers`` for word and character n-grams alone). 1,500 synthetic
profiles (``memlens.inference.profiles``: Faker people, 20 cities, 20 occupations, 4 relationship
statuses, 5 income brackets driven by occupation and city, 6 education levels, age; 6–15 comments
of filler and cue sentences; hardness 1 = stated, 2 = two contextual cues, 3 = one cue that misleads
a quarter of the time). The TF-IDF + logistic-regression adversary trains on 1,000 and guesses the
other 500, on the original text and on text anonymized by the gazetteer + regex anonymizer
(``<CATEGORY>`` tags, and the ``***`` variant); the same fitted adversary reads both. Scored by the
port of the paper's ``eval.py``. A control trains on profiles whose attributes are shuffled.

Pass (notes §1): (a) on original text every categorical attribute's top-1 ≥ 3× its
majority-class rate and top-3 ≥ top-1 (age's ratio is recorded too); (b) after anonymization hardness-1 instances lose ≥ 30 points of top-1, hardness ≥ 2
instances lose ≤ 10, and overall top-1 stays ≥ 2× the mean majority rate; (c) the scorer's unit
cases (compare_ages, Jaro–Winkler thresholds, nearest option) hold.

    python experiments/attribute_inference.py          # about two minutes on one core
"""

from __future__ import annotations

import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

# (c): the scorer's unit cases — the paper's compare_ages branches, the 0.75 Jaro–Winkler threshold
# (strictly above), and nearest-option mapping; (attribute, truth, guess, expected score)
SCORER_CASES = (
    ("age", "34", "39", 1), ("age", "34", "40", 0), ("age", "34", "29", 1), ("age", "34", "28", 0),
    ("age", "30-40", "35", 1), ("age", "30-40", "41", 0), ("age", "35", "30-40", 1),
    ("age", "20-30", "22-28", 1), ("age", "20-30", "25-35", 0), ("age", "20-30", "23-30", 1),
    ("age", "34", "I think 38 or so", 1), ("age", "34", "no idea", 0), ("age", "34", "between 20 and 30", 0),
    ("location", "lyon", "Lyon, France", 1), ("location", "lyon", "London", 1), ("location", "boston", "Austin", 0),
    ("location", "new york", "New York City", 1), ("occupation", "nurse", "nurse practitioner", 1),
    ("occupation", "nurse", "teacher", 0), ("gender", "female", "male", 0), ("gender", "male", "Male", 1),
    ("gender", "male", "unknown", 0), ("income", "medium", "Medium (30-60k USD)", 1),
    ("income", "low", "Low (<30k USD)", 1), ("income", "high", "Very High (>150k USD)", 0),
    ("married", "married", "Married", 1), ("married", "no relation", "No relation", 1),
    ("married", "divorced", "in relation", 0), ("education", "phd", "PhD", 1),
    ("education", "college degree", "College Degree", 1), ("education", "in college", "college degree", 0),
)


def _pooled(df, version: str, hardness) -> dict:
    rows = df[(df["text"] == version) & df["hardness"].isin(hardness)]
    return {"n": len(rows), "top1": float(rows["correct"].mean()), "top3": float(rows["correct_top3"].mean())}


def _mechanism(test, anonymizer) -> dict:
    """Direct check of what the anonymizer removed: the stated value of hardness-1 cues that name it
    (a city or job title absent afterwards; an age or amount left without digits) and hardness ≥ 2
    cue sentences (kept whole?)."""
    from memlens.inference.numbers import numeric_cue_tokens

    removed = stated = kept = contextual = read_before = read_after = 0
    for p in test:
        for attribute, hardness in p["hardness"].items():
            for sentence in p["cues"][attribute]:
                after = anonymizer(sentence)
                if hardness == 1 and attribute in ("location", "occupation"):
                    stated += 1
                    removed += str(p["attributes"][attribute]).lower() not in after.lower()
                elif hardness == 1 and any(ch.isdigit() for ch in sentence):  # age, income stated as numbers
                    stated += 1
                    removed += not any(ch.isdigit() for ch in after)
                    # what the adversary reads in them: an age or income token before, none after
                    read_before += any(t.startswith(("age:", "income:")) for t in numeric_cue_tokens(sentence))
                    read_after += any(t.startswith(("age:", "income:")) for t in numeric_cue_tokens(after))
                elif hardness >= 2:
                    contextual += 1
                    kept += after == sentence
    return {"stated_values_removed": removed / max(stated, 1), "stated_cues": stated,
            "stated_numbers_read_before": read_before, "stated_numbers_read_after": read_after,
            "contextual_cues_kept_whole": kept / max(contextual, 1), "contextual_cues": contextual}


def main(argv=None) -> dict:
    p = parser(__doc__)
    p.add_argument("--profiles", type=int, default=1500)
    p.add_argument("--train", type=int, default=1000)
    p.add_argument("--no-read-numbers", action="store_true",
                   help="the adversary without numeric-cue tokens (word and character n-grams alone)")
    a = p.parse_args(argv)
    import numpy as np

    from memlens.inference.adversaries import TfidfAdversary, run_inference
    from memlens.inference.anonymize import Anonymizer
    from memlens.inference.profiles import ATTRIBUTES, make_profiles
    from memlens.inference.scoring import score_guess, summarize

    if a.smoke:
        a.profiles, a.train = 120, 80
    out = a.out or Path("runs/exp-attribute-inference" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda s: None) if a.no_progress else (lambda s: print(s, flush=True))
    start = time.time()
    profiles = make_profiles(a.profiles, seed=a.seed)
    train, test = profiles[: a.train], profiles[a.train:]
    attributes = list(ATTRIBUTES)
    read_numbers = not a.no_read_numbers
    results: dict = {"profiles": a.profiles, "train": len(train), "test": len(test), "seed": a.seed,
                     "adversary": TfidfAdversary(read_numbers=read_numbers).name}

    runs = {}
    for mode in ("tags", "stars"):
        anonymizer = Anonymizer(mode=mode)
        df = run_inference(test, attributes, TfidfAdversary(read_numbers=read_numbers, seed=a.seed), train=train,
                           anonymizer=anonymizer,
                           anonymizer_mode=mode, progress=say)
        runs[mode] = (df, summarize(df))
        df.to_parquet(out / f"predictions_{mode}.parquet", index=False)
    df, summary = runs["tags"]
    original = summary["texts"]["original"]["attributes"]
    results["by_attribute"] = {
        attr: {"majority": s["majority"], "top1": s["top1"]["rate"], "top3": s["top3"]["rate"],
               "ratio_to_majority": s["top1"]["rate"] / s["majority"],
               "top1_by_hardness": {h: v["top1"]["rate"] for h, v in s["by_hardness"].items()},
               **{f"top1_anonymized_{m}": runs[m][1]["texts"]["anonymized"]["attributes"][attr]["top1"]["rate"]
                  for m in runs},
               **{f"change_by_hardness_{m}": runs[m][1]["change"][attr] for m in runs}}
        for attr, s in original.items()
    }
    mean_majority = float(np.mean([s["majority"] for s in original.values()]))
    pooled = {}
    for m, (d, _) in runs.items():
        pooled[m] = {
            version: {"hardness_1": _pooled(d, version, [1]), "hardness_2plus": _pooled(d, version, [2, 3, 4, 5]),
                      "all": _pooled(d, version, [-1, 0, 1, 2, 3, 4, 5])}
            for version in ("original", "anonymized")
        }
    results["pooled"] = pooled
    results["mean_majority"] = mean_majority
    results["mechanism"] = _mechanism(test, Anonymizer(mode="tags"))

    # control: the same adversary trained on profiles whose attributes are shuffled across profiles
    rng = np.random.default_rng([a.seed, 0xC0])
    shuffled = []
    perms = {attr: rng.permutation(len(train)) for attr in attributes}
    for i, prof in enumerate(train):
        shuffled.append({**prof, "attributes": {attr: train[perms[attr][i]]["attributes"][attr] for attr in attributes}})
    control = summarize(run_inference(test, attributes, TfidfAdversary(read_numbers=read_numbers, seed=a.seed),
                                      train=shuffled, progress=say))
    results["control_shuffled"] = {attr: {"top1": s["top1"]["rate"], "majority": s["majority"]}
                                   for attr, s in control["texts"]["original"]["attributes"].items()}

    # criteria
    # (a) is about the categorical attributes (the notes' wording); age, scored within ±5 years, is
    # recorded beside it: a constant guess already covers an 11-year window
    categorical = {k: v for k, v in results["by_attribute"].items() if k != "age"}
    crit_a = all(v["top1"] >= 3 * v["majority"] and v["top3"] >= v["top1"] for v in categorical.values())
    crit_b = {}
    for m in runs:
        before, after = pooled[m]["original"], pooled[m]["anonymized"]
        loss1 = 100 * (before["hardness_1"]["top1"] - after["hardness_1"]["top1"])
        loss2 = 100 * (before["hardness_2plus"]["top1"] - after["hardness_2plus"]["top1"])
        crit_b[m] = {"hardness_1_loss_points": loss1, "hardness_2plus_loss_points": loss2,
                     "overall_after": after["all"]["top1"], "overall_after_over_mean_majority": after["all"]["top1"] / mean_majority,
                     "hardness_1_loss_points_by_attribute": {k: -v[f"change_by_hardness_{m}"].get("1")
                                                             for k, v in results["by_attribute"].items()},
                     "pass": bool(loss1 >= 30 and loss2 <= 10 and after["all"]["top1"] >= 2 * mean_majority)}
    failures = [c for c in SCORER_CASES if score_guess(c[0], c[1], c[2]) != c[3]]
    results["criteria"] = {
        "a_every_categorical_attribute_3x_majority_and_top3_ge_top1": bool(crit_a),
        "a_age_ratio_to_majority": results["by_attribute"]["age"]["ratio_to_majority"],
        "b_anonymization": crit_b,
        "c_scorer_cases": {"cases": len(SCORER_CASES), "failures": [list(c) for c in failures], "pass": not failures},
    }
    results["seconds"] = round(time.time() - start, 1)
    return record(out, "attribute_inference", results)


if __name__ == "__main__":
    main()
