"""Reproduction: knowledge memorized on purpose — a PromptMize analogue (Guo et al., arXiv
2302.04415; notes §10) for few-shot table-to-text.

Biography tables (name, occupation; optionally birth year, birthplace, employer) → one reference
sentence whose structure depends on which slots are present and which states two facts the table
does not (the birthplace's nationality, the employer's city). A tiny GPT-2 (2 layers, 128 wide)
is pre-trained on generic out-of-domain text (songs and books, plain and as records); bottleneck
adapters (64) are then trained alone on an unlabelled domain corpus (biography sentences and fact
statements, no tables), base frozen. Four variants are fine-tuned (every parameter, the same
number of steps) on 50, 100 and 200 labelled pairs, per seed: plain (fresh identity adapters),
+planner (TF-IDF nearest training table's reference, its values replaced by [slot] markers, as a
prompt), +adapter (knowledge-memorized
adapters), full (both). Scored on held-out tables: corpus BLEU-4 (sacrebleu) and slot coverage.
A copy-from-prompt baseline (the planner's retrieved sentence itself, values left in) is scored too.

Pass (§10): at 50 and 100 shots, mean over seeds, full ≥ planner and full ≥ adapter, and each of
planner, adapter ≥ plain, in BLEU-4 and in slot coverage; the full − plain BLEU-4 gap at 200
shots is smaller than at 50.

    python experiments/promptmize.py            # ~18 min on one shared core
    python experiments/promptmize.py --smoke    # seconds
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

#: sub-streams of the run seed: each draw has its own generator
STREAM = {"generic": 1, "knowledge": 2, "labelled": 3, "test": 4, "shots": 5}
FULL = {"generic": 12000, "knowledge": 6000, "labelled": 1000, "test": 80, "shots": (50, 100, 200),
        "seeds": 2, "steps": 250, "base_epochs": 6, "knowledge_epochs": 4}  # fmt: skip
SMOKE = {"generic": 300, "knowledge": 200, "labelled": 40, "test": 8, "shots": (10, 20), "seeds": 1,
         "steps": 3, "base_epochs": 1, "knowledge_epochs": 1}  # fmt: skip


def rng(seed: int, name: str, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAM[name], *key])


def main(argv=None) -> dict:
    import torch

    from memlens.table2text import data, train
    from memlens.table2text.metrics import bleu4, slot_coverage
    from memlens.table2text.planner import PromptPlanner

    p = parser(__doc__)
    a = p.parse_args(argv)
    out = a.out or Path("runs/exp-promptmize" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    size = SMOKE if a.smoke else FULL
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    generic = data.generic_corpus(size["generic"], rng(a.seed, "generic"))
    knowledge = data.knowledge_corpus(size["knowledge"], rng(a.seed, "knowledge"))
    labelled = data.labelled_examples(size["labelled"], rng(a.seed, "labelled"))
    test = data.labelled_examples(size["test"], rng(a.seed, "test"))
    prepared = train.prepare(generic, knowledge, labelled, base_epochs=size["base_epochs"],
                             knowledge_epochs=size["knowledge_epochs"], seed=a.seed)  # fmt: skip
    prep_seconds = time.perf_counter() - t0
    # finished runs are kept in partial.json, so an interrupted run resumes (the prepared models
    # are rebuilt: they are deterministic given the seed and sizes)
    partial, tag = out / "partial.json", json.dumps({"seed": a.seed, **size})
    done = {}
    if partial.exists() and json.loads(partial.read_text()).get("size") == tag:
        done = json.loads(partial.read_text())["runs"]
    runs = {}  # shots -> variant -> {"bleu4": [per seed], "slot_coverage": [...]}
    for shots in size["shots"]:
        per = runs.setdefault(str(shots), {v: {"bleu4": [], "slot_coverage": []}
                                           for v in [*train.VARIANTS, "copy_prompt"]})  # fmt: skip
        for s in range(size["seeds"]):
            few = data.few_shot_sample(labelled, shots, rng(a.seed, "shots", shots, s))
            # the baseline the planner's prompt sets: output the retrieved sentence unchanged
            copied = PromptPlanner().fit(few).prompts([ex.table for ex in test], delexicalize=False)
            per["copy_prompt"]["bleu4"].append(bleu4(copied, [ex.reference for ex in test]))
            per["copy_prompt"]["slot_coverage"].append(
                float(slot_coverage(copied, [ex.table for ex in test]).mean()))
            for variant in train.VARIANTS:
                key = f"{shots}/{s}/{variant}"
                if key not in done:
                    r = train.few_shot(prepared, variant, few, test, steps=size["steps"], seed=s)
                    done[key] = {"bleu4": r["bleu4"], "slot_coverage": r["slot_coverage"],
                                 "example": r["hypotheses"][0]}  # fmt: skip
                    partial.write_text(json.dumps({"size": tag, "runs": done}, indent=1))
                r = done[key]
                per[variant]["bleu4"].append(r["bleu4"])
                per[variant]["slot_coverage"].append(r["slot_coverage"])
                if not a.no_progress:
                    print(f"shots={shots} seed={s} {variant}: BLEU-4 {r['bleu4']:.2f}, slot coverage "
                          f"{r['slot_coverage']:.3f}  e.g. {r['example']!r}", flush=True)  # fmt: skip
    mean = {k: {v: {m: float(np.mean(x)) for m, x in d.items()} for v, d in per.items()}
            for k, per in runs.items()}  # fmt: skip
    criteria = {}
    checked = [k for k in ("50", "100") if k in mean] or [str(size["shots"][0])]
    for k in checked:
        for metric in ("bleu4", "slot_coverage"):
            m = mean[k]
            criteria[f"full_ge_components_{metric}_{k}"] = bool(
                m["full"][metric] >= max(m["planner"][metric], m["adapter"][metric]))
            criteria[f"components_ge_plain_{metric}_{k}"] = bool(
                min(m["planner"][metric], m["adapter"][metric]) >= m["plain"][metric])
    first, last = str(size["shots"][0]), str(size["shots"][-1])
    gap = {k: mean[k]["full"]["bleu4"] - mean[k]["plain"]["bleu4"] for k in mean}
    criteria["gap_shrinks"] = bool(gap[last] < gap[first])
    results = {
        "experiment": "promptmize", "smoke": a.smoke, "size": {k: list(v) if isinstance(v, tuple) else v
                                                              for k, v in size.items()},
        "model": {"n_layer": 2, "n_embd": 128, "adapter_bottleneck": 64, "vocab": len(prepared.tokenizer)},
        "pretraining": {"base_final_loss": float(np.mean(prepared.base_losses[-20:])),
                        "knowledge_first_loss": float(np.mean(prepared.knowledge_losses[:5])),
                        "knowledge_final_loss": float(np.mean(prepared.knowledge_losses[-20:])),
                        "seconds": round(prep_seconds, 1)},
        "runs": runs, "mean": mean, "full_minus_plain_bleu4": gap, "criteria": criteria,
        "pass": all(criteria.values()), "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    return record(out, "promptmize", results)


if __name__ == "__main__":
    main()
