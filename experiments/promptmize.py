"""Reproduction: knowledge memorized on purpose — a PromptMize analogue (Guo et al., arXiv
2302.04415; notes §10) for few-shot table-to-text.

Biography tables (name, occupation; optionally birth year, birthplace, employer) → one reference
sentence whose structure depends on which slots are present and which states two facts the table
does not (the birthplace's nationality, the employer's city). A tiny GPT-2 (3 layers, 96 wide)
is pre-trained on generic out-of-domain records (songs, books, films as ``table: … [prompt:
<delexicalized prototype>] text: …``, values drawn fresh per record so they must be *copied*);
a copy probe (slot coverage of its text for unseen records) checks that it learned to copy, against
an untrained twin. Bottleneck adapters (64) are then trained alone on an unlabelled domain corpus
(biography sentences and fact statements, no tables) plus a replay of generic records (without
it the adapters break the base's copying), base frozen, with the loss of the domain text on its
fact words only (``knowledge_loss="facts"``: each employer's city and birthplace's nationality
after its subject; ``"all"`` trains on every token, which also teaches a prior over names and
occupations); a fact probe (answer loss and accuracy on
every fact statement) compares them with the bare base. Four variants are fine-tuned
(every parameter, the same number of steps) on 50, 100 and 200 labelled pairs, per seed: plain
(fresh identity adapters), +planner (the reference of the TF-IDF nearest training table with the
same slots, its values replaced by [slot] markers, as a prompt), +adapter (knowledge-memorized adapters), full (both).
Scored on held-out tables: corpus BLEU-4 (sacrebleu) and slot coverage. A copy-from-prompt
baseline (the planner's retrieved sentence itself, values left in) is scored too.

The pre-trained base and adapters are saved in ``<out>/prepared`` and reused by a rerun with the
same sizes; finished few-shot runs are kept in ``<out>/partial.json``.

Pass (§10): at 50 and 100 shots, mean over seeds, full ≥ planner and full ≥ adapter, and each of
planner, adapter ≥ plain, in BLEU-4 and in slot coverage; the full − plain BLEU-4 gap at 200
shots is smaller than at 50.

    python experiments/promptmize.py            # ~40 min on one core of a busy 2-core machine
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
STREAM = {"generic": 1, "knowledge": 2, "labelled": 3, "test": 4, "shots": 5, "probe": 6}
#: what the base depends on (a change re-trains it and the adapters) and what the knowledge
#: adapters depend on besides (a change re-trains only them)
BASE_KEYS = ("generic", "knowledge", "labelled", "n_layer", "n_embd", "bottleneck", "base_epochs", "base_lr")
KNOWLEDGE_KEYS = ("knowledge_epochs", "knowledge_lr", "knowledge_replay", "knowledge_loss")
FULL = {"generic": 12000, "knowledge": 6000, "labelled": 1000, "test": 80, "shots": (50, 100, 200),
        "seeds": 2, "steps": 200, "lr": 5e-4, "n_layer": 3, "n_embd": 96, "bottleneck": 64,
        "base_epochs": 6, "base_lr": 3e-3, "knowledge_epochs": 8, "knowledge_lr": 1e-2, "knowledge_replay": 2000,
        "knowledge_loss": "facts",
        "probe": 80}  # fmt: skip
SMOKE = {"generic": 300, "knowledge": 200, "labelled": 40, "test": 8, "shots": (10, 20), "seeds": 1,
         "steps": 3, "lr": 5e-4, "n_layer": 1, "n_embd": 32, "bottleneck": 8, "base_epochs": 1,
         "base_lr": 2e-3, "knowledge_epochs": 1, "knowledge_lr": 1e-2, "knowledge_replay": 20,
         "knowledge_loss": "facts",
         "probe": 8}  # fmt: skip


def rng(seed: int, name: str, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAM[name], *key])


def prepared_key(seed: int, size: dict) -> dict:
    return {"base": {"seed": seed, **{k: size[k] for k in BASE_KEYS}},
            "knowledge": {k: size[k] for k in KNOWLEDGE_KEYS}}  # fmt: skip


def run_tag(seed: int, size: dict, variant: str) -> str:
    """What a few-shot run's result depends on: a variant without the knowledge adapters does not
    depend on their settings, so a rerun that changes only those reuses it."""
    from memlens.table2text.train import VARIANTS

    key = prepared_key(seed, size)
    few = {k: size[k] for k in ("test", "steps", "lr")}
    return json.dumps({"base": key["base"], "few_shot": few, "knowledge": key["knowledge"] if VARIANTS[variant][1] else None})


def prepared_models(out: Path, seed: int, size: dict, generic, knowledge, labelled, *, verbose: bool = True):
    """The pre-trained base and knowledge adapters: loaded from ``out/prepared`` when they were
    saved there with the same seed and sizes (only the adapters re-trained when only their
    settings changed), else trained and saved. Returns (prepared, seconds spent training or None
    when loaded)."""
    from memlens.table2text import data, train

    folder = out / "prepared"
    key = prepared_key(seed, size)
    saved = json.loads((folder / "key.json").read_text()) if (folder / "key.json").exists() else {}
    saved = saved if isinstance(saved, dict) else {}
    replay = generic[: size["knowledge_replay"]]
    if saved == key:
        return train.load_prepared(folder), None
    t0 = time.perf_counter()
    if saved.get("base") == key["base"]:
        prepared = train.load_prepared(folder)
        prepared.knowledge, prepared.knowledge_losses = train.memorize_in_adapters(
            prepared.base, prepared.tokenizer, knowledge, replay=replay, epochs=size["knowledge_epochs"],
            lr=size["knowledge_lr"], knowledge_loss=size["knowledge_loss"], seed=seed,
        )  # fmt: skip
        train.save_prepared(prepared, folder)
        (folder / "key.json").write_text(json.dumps(key))
        return prepared, time.perf_counter() - t0
    unseen = [ex for ex, _ in data.generic_records(size["probe"], rng(seed, "probe"))]
    steps = []

    def report(base, tokenizer):  # the copy probe every 250 pre-training steps
        steps.append(1)
        if verbose and len(steps) % 250 == 0:
            probe = train.copy_probe(base, tokenizer, unseen)
            base.train()
            print(f"base step {len(steps)}: copy probe {probe:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)

    prepared = train.prepare(
        generic, knowledge, labelled, n_layer=size["n_layer"], n_embd=size["n_embd"],
        bottleneck=size["bottleneck"], base_epochs=size["base_epochs"], base_lr=size["base_lr"],
        knowledge_epochs=size["knowledge_epochs"], knowledge_lr=size["knowledge_lr"], knowledge_replay=replay,
        knowledge_loss=size["knowledge_loss"], seed=seed, base_progress=report,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    train.save_prepared(prepared, folder)
    (folder / "key.json").write_text(json.dumps(key))
    return prepared, seconds


def probes(prepared, size: dict, seed: int, test) -> dict:
    """Checks before the few-shot stage: does the base copy values it never saw (vs an untrained
    twin), and did the adapters absorb the facts (vs the bare base)?"""
    from memlens.lm.model import tiny_gpt2
    from memlens.table2text import data, train

    unseen = [ex for ex, _ in data.generic_records(size["probe"], rng(seed, "probe"))]
    untrained = tiny_gpt2(len(prepared.tokenizer), n_layer=size["n_layer"], n_embd=size["n_embd"],
                          n_head=prepared.base.config.n_head, n_positions=prepared.base.config.n_positions,
                          seed=seed + 1)  # fmt: skip
    facts = data.fact_queries()
    return {
        "copy_unseen_records": {"base": train.copy_probe(prepared.base, prepared.tokenizer, unseen),
                                "untrained": train.copy_probe(untrained, prepared.tokenizer, unseen),
                                "knowledge_adapters": train.copy_probe(prepared.knowledge, prepared.tokenizer, unseen)},
        # zero-shot on the domain's held-out tables: the format is the same, the slot names new
        "copy_domain_tables_zero_shot": train.copy_probe(prepared.base, prepared.tokenizer, test),
        "facts": {"base": train.fact_probe(prepared.base, prepared.tokenizer, facts),
                  "knowledge_adapters": train.fact_probe(prepared.knowledge, prepared.tokenizer, facts)},
    }  # fmt: skip


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
    prepared, prep_seconds = prepared_models(out, a.seed, size, generic, knowledge, labelled,
                                             verbose=not a.no_progress)  # fmt: skip
    checks = probes(prepared, size, a.seed, test)
    if not a.no_progress:
        print(f"probes: {json.dumps(checks)}", flush=True)
    # finished runs are kept in partial.json (with what they depend on), so an interrupted run
    # resumes and a rerun with other adapter settings re-runs only the adapter variants
    partial = out / "partial.json"
    kept = json.loads(partial.read_text()).get("runs", {}) if partial.exists() else {}
    done = {k: r for k, r in kept.items() if r.get("tag") == run_tag(a.seed, size, k.split("/")[-1])}
    runs = {}  # shots -> variant -> {"bleu4": [per seed], "slot_coverage": [...]}
    examples = {}  # shots -> variant -> the first test table's text, seed 0
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
                    r = train.few_shot(prepared, variant, few, test, steps=size["steps"], lr=size["lr"], seed=s)
                    done[key] = {"bleu4": r["bleu4"], "slot_coverage": r["slot_coverage"],
                                 "example": r["hypotheses"][0], "tag": run_tag(a.seed, size, variant)}  # fmt: skip
                    partial.write_text(json.dumps({"runs": done}, indent=1))
                r = done[key]
                per[variant]["bleu4"].append(r["bleu4"])
                per[variant]["slot_coverage"].append(r["slot_coverage"])
                if s == 0:
                    examples.setdefault(str(shots), {})[variant] = r["example"]
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
        "model": {"n_layer": size["n_layer"], "n_embd": size["n_embd"], "n_head": prepared.base.config.n_head,
                  "adapter_bottleneck": size["bottleneck"], "vocab": len(prepared.tokenizer)},
        "pretraining": {"base_steps": len(prepared.base_losses),
                        "base_final_loss": float(np.mean(prepared.base_losses[-20:])),
                        "knowledge_steps": len(prepared.knowledge_losses),
                        "knowledge_first_loss": float(np.mean(prepared.knowledge_losses[:5])),
                        "knowledge_final_loss": float(np.mean(prepared.knowledge_losses[-20:])),
                        "seconds": None if prep_seconds is None else round(prep_seconds, 1),
                        "reused_from_disk": prep_seconds is None},
        "probes": checks, "runs": runs, "mean": mean, "examples": {"table": test[0].table,
                                                                    "reference": test[0].reference,
                                                                    "by_shots": examples},
        "full_minus_plain_bleu4": gap, "criteria": criteria,
        "pass": all(criteria.values()), "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    return record(out, "promptmize", results)


if __name__ == "__main__":
    main()
