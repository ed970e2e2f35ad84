"""Reproduction (exploratory): fine-tuning memorization by task format (Zeng et al., ACL 2024).

Faker records (name, job, company, city, a 4-sentence paragraph and a sentiment sentence) are
written in three task formats that share the same input text:

- ``summary``:        ``Text: INPUT\\nSummary: NAME, JOB, CITY; 6 content words from across INPUT``
- ``dialogue``:       ``User: INPUT\\nAssistant: Hi NAME! As a JOB at COMPANY you should visit CITY.``
- ``classification``: ``Text: INPUT\\nLabel: positive|negative`` (set by one keyword)

A tiny GPT-2 (2 layers, 128 wide) is pretrained on plain paragraphs of other records, then a
copy is fine-tuned on each format (same records, same epochs, causal-LM loss on the whole text,
the paper's recipe). Memorization per task, on the fine-tuning records minus held-out records of
the same format (control):

- **input-span extraction**: prefix = the format's marker plus the first half of the input's
  tokens; greedy continuation of the next 24 input tokens; exact-match rate and mean token edit
  similarity (the probed tokens are the same text in every format);
- **loss gap**: held-out minus fine-tuning mean token loss over the whole text, and the AUROC of
  the loss score (fine-tuning records vs held-out).

- **memorization by granularity** (issue 14; :mod:`memlens.lm.granularity`): the paper's probe —
  prefix = the first half of the training text's tokens (marker included), greedy continuation
  of the rest (up to 96 tokens, cut at end of text), compared with the true rest by three
  detectors: *verbatim* (Zeng's common substring ≥ 50 characters, or the whole rest when
  shorter), *paraphrase* (all-MiniLM-L6-v2 cosine ≥ 0.8 with case-folded BLEU < 0.75) and
  *idea-level* (≥ half of the rest's key entities restated: numbers, capitalized names, and the
  records' jobs, companies, cities and labels as a lexicon); also Ippolito's *approximate*
  memorization (BLEU or case- and space-free edit similarity ≥ 0.75). Each rate on the
  fine-tuning records minus on held-out records; ``ordering_by_detector`` ranks the tasks by it
  (``ranking_by_detector`` writes ties as ``=``; ``gap_se_by_detector`` gives each gap's
  standard error).

Attention spread: entropy of the attention from the output tokens over the input tokens,
renormalized to the input and divided by log(n_input), averaged over layers, heads and positions.

Paper's claim (notes §2): summarization and dialogue memorize more than classification, and
higher-memorization tasks spread attention more. Reported as found; ``paper_ordering`` is True
when both summary and dialogue exceed classification on the extraction measure (edit similarity
gap; ``paper_ordering_by_detector`` the same for each detector). No pass/fail target: the notes
call this experiment exploratory.

    python experiments/lm_finetune_tasks.py    # ~4 min on one core
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

TASKS = ("summary", "dialogue", "classification")
PROBE_TOKENS = 24
MARKERS = {"summary": ("Text: ", "\nSummary: "), "dialogue": ("User: ", "\nAssistant: "),
           "classification": ("Text: ", "\nLabel: ")}  # fmt: skip


def make_records(n: int, seed: int) -> list[dict]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    out = []
    for _ in range(n):
        name, job, company, city = fake.name(), fake.job(), fake.company(), fake.city()
        positive = bool(fake.pybool())
        mood = "The service was excellent." if positive else "The service was terrible."
        text = f"{name} works as a {job} at {company} in {city}. {fake.paragraph(nb_sentences=4)} {mood}"
        words = [w.strip(".,") for w in text.split() if len(w.strip(".,")) > 5]
        picks = [words[i] for i in np.linspace(0, len(words) - 1, 6).astype(int)] if words else []
        out.append({"input": text, "name": name, "job": job, "company": company, "city": city,
                    "label": "positive" if positive else "negative", "words": picks})  # fmt: skip
    return out


def render(task: str, r: dict) -> str:
    head, mid = MARKERS[task]
    if task == "summary":
        output = f"{r['name']}, {r['job']}, {r['city']}; " + " ".join(r["words"])
    elif task == "dialogue":
        output = f"Hi {r['name']}! As a {r['job']} at {r['company']} you should visit {r['city']}."
    else:
        output = r["label"]
    return head + r["input"] + mid + output


def _probe(model, tok, task, records):
    """Greedy continuation of the input's second half from marker + first half."""
    from memlens.lm.generate import greedy_continuations
    from memlens.lm.measures import edit_similarity, extractable

    head = MARKERS[task][0]
    prefixes, refs = [], []
    for r in records:
        ids = tok(head + r["input"], add_special_tokens=False)["input_ids"]
        n_head = len(tok(head.rstrip(), add_special_tokens=False)["input_ids"])
        body = len(ids) - n_head
        cut = n_head + body // 2
        ref = ids[cut : cut + PROBE_TOKENS]
        if len(ref) < PROBE_TOKENS:
            continue
        prefixes.append([tok.bos_token_id, *ids[:cut]])
        refs.append(ref)
    gen = greedy_continuations(model, tok, prefixes, max_new_tokens=PROBE_TOKENS)
    refs = np.asarray(refs)
    return float(extractable(gen, refs).mean()), float(np.mean(edit_similarity(gen, refs)))


#: the detectors ordered over tasks (memlens.lm.granularity), and the longest probe continuation
DETECTORS = ("verbatim", "approximate", "paraphrase", "idea")
SAMPLE_NEW_TOKENS = 96


def _sample_probe(model, tok, task, records, detectors) -> dict:
    """The paper's probe: first half of the training text → greedy → the three detectors (rates)."""
    from memlens.lm.generate import greedy_continuations

    prefixes, refs = [], []
    for r in records:
        ids = tok(render(task, r), add_special_tokens=False)["input_ids"]
        cut = len(ids) // 2
        prefixes.append([tok.bos_token_id, *ids[:cut]])
        refs.append(tok.decode(ids[cut : cut + SAMPLE_NEW_TOKENS]))
    gen = greedy_continuations(model, tok, prefixes, max_new_tokens=SAMPLE_NEW_TOKENS)
    eos = tok.eos_token_id
    texts = [tok.decode(list(g[: list(g).index(eos)]) if eos in g else list(g)) for g in gen]
    g = detectors(texts, refs)
    out = {d: float(np.mean(g[d])) for d in DETECTORS}
    out["exact_continuation"] = float(np.mean(g["exact_continuation"]))
    out["mean_slot_recall"] = float(np.nanmean(g["slot_recall"]))
    out["mean_embedding_similarity"] = float(np.mean(g["embedding_similarity"]))
    out["example"] = {"reference": refs[0], "generated": texts[0]}
    return out


def ranking(values: dict) -> str:
    """Keys from the largest value to the smallest, ``>`` between them, ``=`` for ties.

    >>> ranking({"a": 0.0, "b": 0.5, "c": 0.0})
    'b > a = c'
    """
    order = sorted(values, key=lambda k: -values[k])
    out = order[0]
    for prev, k in zip(order, order[1:], strict=False):
        out += (" = " if abs(values[prev] - values[k]) < 1e-12 else " > ") + k
    return out


def _gap_se(p_train: float, p_heldout: float, n: int) -> float:
    """Standard error of a difference of two rates measured on n records each."""
    return float(np.sqrt((p_train * (1 - p_train) + p_heldout * (1 - p_heldout)) / max(n, 1)))


def _attention_spread(model, tok, task, records) -> float:
    """Mean normalized entropy of attention from output tokens over input tokens."""
    import torch

    head, mid = MARKERS[task]
    vals = []
    with torch.inference_mode():
        for r in records:
            text = render(task, r)
            ids = [tok.bos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]
            ids = ids[: model.config.n_positions]
            n_in = 1 + len(tok(head + r["input"], add_special_tokens=False)["input_ids"])
            if n_in + 1 >= len(ids):
                continue
            att = model(input_ids=torch.tensor([ids]), output_attentions=True).attentions
            a = torch.stack(att)[:, 0, :, n_in:, 1:n_in]  # (L, H, out, in), bos excluded
            a = a / a.sum(-1, keepdim=True).clamp_min(1e-12)
            ent = -(a * a.clamp_min(1e-12).log()).sum(-1) / np.log(n_in - 1)
            vals.append(float(ent.mean()))
    return float(np.mean(vals))


def main(argv=None) -> dict:
    import torch

    from memlens.estimate import attack_metrics
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.measures import loss_score
    from memlens.lm.model import sequence_logprobs, tiny_gpt2, train_lm

    p = parser(__doc__)
    p.add_argument(
        "--records", type=int, default=200, help="fine-tuning records (and as many held out)"
    )
    p.add_argument("--epochs", type=int, default=15, help="fine-tuning epochs")
    p.add_argument("--threads", type=int, help="torch threads (default: at most 2)")
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, a.threads) if a.threads else min(2, torch.get_num_threads()))
    from memlens.lm.granularity import granularity

    if (
        a.smoke
    ):  # seconds long: a lexical stand-in for the sentence encoder (loading it takes ~15 s)
        from memlens.lm.granularity import surface_edit_similarity

        similarity = surface_edit_similarity
    else:
        from memlens.lm.embedding import embedding_similarity as similarity
    n, epochs, pre_n, pre_epochs, width = (
        (8, 1, 10, 1, 32) if a.smoke else (a.records, a.epochs, 600, 3, 128)
    )
    out = a.out or Path("runs/exp-lm-finetune-tasks" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pre = make_records(pre_n, a.seed + 1)
    recs = make_records(2 * n, a.seed)
    train_recs, held = recs[:n], recs[n:]
    pre_texts = [r["input"] for r in pre]
    tok = train_tokenizer(pre_texts + [render(t, r) for t in TASKS for r in recs[:50]],
                          vocab_size=512 if a.smoke else 2048)  # fmt: skip
    kw = dict(batch_size=16, seq_len=256)
    base = tiny_gpt2(len(tok), n_layer=2, n_embd=width, n_head=4, n_positions=256, seed=a.seed)
    base.set_attn_implementation("eager")  # attention weights for the spread statistic
    pre_losses = train_lm(base, tok, pre_texts, epochs=pre_epochs, lr=2e-3, seed=a.seed, **kw)
    state = {k: v.clone() for k, v in base.state_dict().items()}

    lexicon = sorted(
        {r[k] for r in recs for k in ("job", "company", "city")} | {"positive", "negative"}
    )

    def detectors(texts, refs):
        return granularity(texts, refs, similarity=similarity(texts, refs), lexicon=lexicon)

    tasks = {}
    for task in TASKS:
        model = tiny_gpt2(len(tok), n_layer=2, n_embd=width, n_head=4, n_positions=256, seed=a.seed)
        model.set_attn_implementation("eager")
        model.load_state_dict(state)
        ft = [render(task, r) for r in train_recs]
        losses = train_lm(model, tok, ft, epochs=epochs, lr=1e-3, seed=a.seed, **kw)
        ex_in, es_in = _probe(model, tok, task, train_recs)
        ex_out, es_out = _probe(model, tok, task, held)
        texts = ft + [render(task, r) for r in held]
        gran_in = _sample_probe(model, tok, task, train_recs, detectors)
        gran_out = _sample_probe(model, tok, task, held, detectors)
        granular = {"train": gran_in, "heldout": gran_out,
                    "gap": {d: gran_in[d] - gran_out[d] for d in (*DETECTORS, "exact_continuation", "mean_slot_recall")}}  # fmt: skip
        lp = sequence_logprobs(model, tok, texts, batch_size=64, truncate=True).logprobs
        score = loss_score(lp)
        labels = np.r_[np.ones(n, bool), np.zeros(n, bool)]
        tasks[task] = {
            "final_train_loss": float(losses[-5:].mean()), "steps": int(losses.size),
            "extract_exact_train": ex_in, "extract_exact_heldout": ex_out,
            "edit_sim_train": es_in, "edit_sim_heldout": es_out,
            "edit_sim_gap": es_in - es_out, "exact_gap": ex_in - ex_out,
            "loss_train": float(-score[labels].mean()), "loss_heldout": float(-score[~labels].mean()),
            "loss_gap": float(score[labels].mean() - score[~labels].mean()),
            "loss_auroc": attack_metrics(labels, score, fprs=(0.1,))["auc"],
            "attention_spread": _attention_spread(model, tok, task, train_recs[: min(n, 50)]),
            "granularity": granular,
        }  # fmt: skip
    gap = {t: tasks[t]["edit_sim_gap"] for t in TASKS}
    ordering = sorted(TASKS, key=lambda t: -gap[t])
    spread = [tasks[t]["attention_spread"] for t in TASKS]
    by_detector = {
        d: sorted(TASKS, key=lambda t, d=d: -tasks[t]["granularity"]["gap"][d]) for d in DETECTORS
    }
    from memlens.lm.granularity import (
        APPROXIMATE_THRESHOLD,
        IDEA_RECALL_THRESHOLD,
        PARAPHRASE_EMBEDDING_THRESHOLD,
        PARAPHRASE_LEXICAL_MAX,
        VERBATIM_MIN_CHARS,
    )

    results = {
        "experiment": "lm-finetune-tasks", "seconds": round(time.perf_counter() - t0, 1),
        "records": n, "heldout": n, "fine_tune_epochs": epochs, "pretrain": {"records": pre_n,
        "epochs": pre_epochs, "final_loss": float(pre_losses[-5:].mean())},
        "model": {"n_layer": 2, "n_embd": width, "n_head": 4, "n_positions": 256, "vocab": len(tok)},
        "probe_tokens": PROBE_TOKENS, "tasks": tasks,
        "ordering_by_edit_sim_gap": ordering,
        "ordering_by_loss_gap": sorted(TASKS, key=lambda t: -tasks[t]["loss_gap"]),
        "paper_ordering": bool(min(gap["summary"], gap["dialogue"]) > gap["classification"]),
        "ordering_by_detector": by_detector,
        "gap_by_detector": {d: {t: tasks[t]["granularity"]["gap"][d] for t in TASKS} for d in DETECTORS},
        # ties written as "=", and each gap's standard error (two independent proportions, n each)
        "ranking_by_detector": {d: ranking({t: tasks[t]["granularity"]["gap"][d] for t in TASKS})
                                for d in DETECTORS},
        "gap_se_by_detector": {d: {t: _gap_se(tasks[t]["granularity"]["train"][d],
                                              tasks[t]["granularity"]["heldout"][d], n) for t in TASKS}
                               for d in DETECTORS},
        "paper_ordering_by_detector": {d: bool(min(tasks["summary"]["granularity"]["gap"][d],
                                                   tasks["dialogue"]["granularity"]["gap"][d])
                                               > tasks["classification"]["granularity"]["gap"][d])
                                       for d in DETECTORS},
        "detector_thresholds": {"verbatim_min_chars": VERBATIM_MIN_CHARS, "approximate": APPROXIMATE_THRESHOLD,
                                "paraphrase_cosine": PARAPHRASE_EMBEDDING_THRESHOLD,
                                "paraphrase_bleu_below": PARAPHRASE_LEXICAL_MAX, "idea_slot_recall": IDEA_RECALL_THRESHOLD,
                                "similarity": "surface edit similarity (smoke stand-in)" if a.smoke else "all-MiniLM-L6-v2 cosine"},
        "spread_tracks_memorization": bool(
            np.corrcoef(spread, [gap[t] for t in TASKS])[0, 1] > 0 if np.ptp(spread) > 0 and np.ptp(list(gap.values())) > 0 else False
        ),
        "claim": "summary and dialogue memorize more than classification; more spread attention",
    }  # fmt: skip
    return record(out, "lm_finetune_tasks", results)


if __name__ == "__main__":
    main()
