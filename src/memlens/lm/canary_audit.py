"""The canary part of a language-model audit: exposure, its tokenizer-only control, extraction.

For every planted canary (:class:`~memlens.lm.corpus.Canary`), :func:`canary_columns` measures:

* ``exposure`` (bits) by the reference convention of TF Privacy's secret sharer: the canary's
  text is ranked by total log-probability among the texts with every other secret of its space,
  **minus the other inserted canaries' secrets** (they were trained on too, so they are not draws
  from the null). Exact rank when the space has at most :data:`EXACT_LIMIT` candidates, else the
  skew-normal extrapolation from ``samples`` candidates drawn from the space without the inserted
  secrets (:func:`~memlens.lm.measures.exposure_exact`, :func:`~memlens.lm.measures.exposure_skew_normal`).
* ``exposure_control``: the same exposure under untrained models of the same configuration and
  tokenizer, averaged over :data:`CONTROL_INITS` initialisations seeded from the run seed. An
  untrained model knows nothing about the canaries, so whatever exposure it shows comes from the
  tokenizer (a secret merged into one token outranks the multi-token candidates) and the template.
  Chance is :func:`~memlens.lm.measures.exposure_chance`, about 1.44 bits.
* ``exposure_excess`` = exposure − control: what training added. Verdicts read this column.
* ``secret_single_token``: the secret is one vocabulary token in the canary's text (a tokenizer
  fitted on text containing it); its exposure then says more about the tokenizer than the model.
* ``extracted_from_prefix`` / ``extracted_from_template``: greedy decoding writes the secret (and
  the rest of the canary) from the canary's own prefix — everything before the secret, names and
  record fields included — or from the bare template (:attr:`~memlens.lm.corpus.Canary.bare_prefix`,
  the label shared by every canary of its template).

:func:`_extraction` (every row's ``extractable_at_k`` and longest verbatim span) lives here too;
:mod:`memlens.lm.audit` calls both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from memlens.errors import MemlensError
from memlens.lm.corpus import DEFAULT_TEMPLATE, DEFAULT_TEMPLATES, Canary, Corpus, insert_canaries

#: the canary columns of lm_scores.parquet, in order (NaN / missing for documents)
CANARY_COLUMNS = (
    "exposure", "exposure_control", "exposure_excess", "secret_single_token",
    "extracted_from_prefix", "extracted_from_template",
)  # fmt: skip
#: secret spaces up to this size are ranked exactly (every candidate scored)
EXACT_LIMIT = 10**5
#: untrained initialisations averaged into the tokenizer-only control
CONTROL_INITS = 3
#: a canary whose excess is at least this many bits counts as exposed (2^10: the model ranks its
#: secret a thousand times higher than the tokenizer alone does); the report's EXPOSED_BITS
EXPOSED_EXCESS_BITS = 10.0
CONVENTION = (
    "rank of the canary's text among the texts with every secret of its space except the other "
    "inserted canaries' secrets (TF Privacy's secret sharer); log2 of that space size minus log2 rank"
)


@dataclass
class CanarySpec:
    """How canaries were (or are to be) inserted; ``n=0`` for none.

    ``templates`` are cycled over the canaries (:func:`~memlens.lm.corpus.insert_canaries`); the
    default gives each canary a PII record of its own.
    """

    n: int = 0
    repeats: tuple[int, ...] = (1, 2, 4, 8)
    secret_digits: int | None = 4
    seed: int = 0
    templates: tuple[str, ...] = DEFAULT_TEMPLATES

    def apply(self, corpus: Corpus) -> Corpus:
        if self.n <= 0:
            return corpus
        return insert_canaries(
            corpus, n_canaries=self.n, repeats=tuple(self.repeats), secret_digits=self.secret_digits,
            seed=self.seed, template=tuple(self.templates),
        )  # fmt: skip

    def to_record(self) -> dict:
        """The spec as JSON for ``memlens_lm.json``."""
        return {"n": self.n, "repeats": list(self.repeats), "secret_digits": self.secret_digits,
                "seed": self.seed, "templates": list(self.templates)}  # fmt: skip

    @classmethod
    def from_record(cls, record: dict) -> CanarySpec:
        """Read :meth:`to_record`'s JSON; a record without templates predates per-canary
        templates, whose canaries all shared :data:`~memlens.lm.corpus.DEFAULT_TEMPLATE`."""
        known = {k: record[k] for k in ("n", "secret_digits", "seed") if k in record}
        return cls(**known, repeats=tuple(record.get("repeats", (1, 2, 4, 8))),
                   templates=tuple(record.get("templates") or [DEFAULT_TEMPLATE]))  # fmt: skip


# --- scoring candidate texts --------------------------------------------------------------------


def _bos(tokenizer) -> int:
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Each text as the token ids the model reads: ``[bos, text]``."""
    return [
        [_bos(tokenizer), *ids]
        for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    ]


def candidate_logprobs(model, tokenizer, texts, *, batch_size: int = 4096) -> np.ndarray:
    """(N,) total log-probability of each text's tokens after the token prefix all texts share.

    The shared prefix (``bos`` and the template's words) has the same probability for every
    text, so these values rank the texts exactly as whole-text log-probabilities do — all
    exposure needs. Each text is tokenized whole (``[bos, text]``), so merges across the
    prefix/secret boundary are what the model saw. ``texts`` may also be token ids as
    :func:`encode` gives them (to tokenize once for several models).

    The tails after the shared prefix form a tree (a secret space: 10 first digits, 100 pairs, …);
    the shared prefix goes through the model once, then each level of the tree is one batch of
    single-token steps on the key/value cache of its parents, so every tree node costs one token:
    1,110 steps score the 10,000 four-digit secrets. ``batch_size`` bounds the nodes per step.
    """
    import copy

    import torch

    from memlens.lm.generate import _new_cache
    from memlens.lm.model import context_length

    if not len(texts):
        return np.zeros(0)
    seqs = encode(tokenizer, texts) if isinstance(texts[0], str) else [list(s) for s in texts]
    limit = context_length(model)
    longest = max(map(len, seqs))
    if longest > limit:
        raise MemlensError(
            f"A canary text is {longest} tokens long (with bos) but the model's context holds "
            f"{limit}; use shorter canary templates or a model with a longer context."
        )
    first = seqs[0]
    shared = min(len(s) for s in seqs) - 1  # every text keeps at least one scored token
    for s in seqs[1:]:
        j = 0
        while j < shared and s[j] == first[j]:
            j += 1
        shared = j
    shared = max(shared, 1)
    tails = [tuple(s[shared:]) for s in seqs]
    total = np.zeros(len(tails))
    with torch.inference_mode():
        head = torch.tensor([first[:shared]])  # (1, shared)
        root_cache, kwarg = _new_cache(model)
        result = model(input_ids=head, attention_mask=torch.ones_like(head), use_cache=True,
                       logits_to_keep=1, **{kwarg: root_cache})  # fmt: skip
        root_lp = torch.log_softmax(result.logits[:, -1].float(), -1)  # (1, V)
        # the tree level by level: chunks of (the cache, (B, V) next-token log-probs, and the row
        # of each node: a tail prefix of length d that has children); level 0 is the shared prefix
        parents = [(root_cache, root_lp, {(): 0})]
        for d in range(max(map(len, tails))):
            live = [i for i, t in enumerate(tails) if len(t) > d]
            where = {}  # tail prefix of length d -> (chunk, row)
            for c, (_, _, rows) in enumerate(parents):
                where.update({node: (c, r) for node, r in rows.items()})
            for c, (_, lp, _) in enumerate(parents):
                mine = [i for i in live if where[tails[i][:d]][0] == c]
                if mine:
                    rows = torch.tensor([where[tails[i][:d]][1] for i in mine])
                    tokens = torch.tensor([tails[i][d] for i in mine])
                    total[mine] += lp[rows, tokens].double().numpy()
            children = list(dict.fromkeys(tails[i][: d + 1] for i in live if len(tails[i]) > d + 1))
            if not children:
                break
            nxt = []
            for b in range(0, len(children), batch_size):
                part = children[b : b + batch_size]
                by_chunk: dict[int, list] = {}
                for node in part:
                    by_chunk.setdefault(where[node[:-1]][0], []).append(node)
                for c, nodes in by_chunk.items():
                    # one level in one batch reorders its parents' cache in place; else each batch
                    # takes its rows from a copy
                    cache = parents[c][0] if len(parents) == len(by_chunk) == 1 and b == 0 and \
                        len(children) <= batch_size else copy.deepcopy(parents[c][0])  # fmt: skip
                    cache.reorder_cache(torch.tensor([where[node[:-1]][1] for node in nodes]))
                    ids = torch.tensor([[node[-1]] for node in nodes])  # (B, 1)
                    positions = torch.full((len(nodes), 1), shared + d)
                    mask = torch.ones((len(nodes), shared + d + 1), dtype=torch.long)
                    result = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                                   logits_to_keep=1, **{kwarg: cache})  # fmt: skip
                    lp = torch.log_softmax(result.logits[:, -1].float(), -1)  # (B, V)
                    nxt.append((cache, lp, {node: r for r, node in enumerate(nodes)}))
            parents = nxt
    return total


# --- exposure -----------------------------------------------------------------------------------


@dataclass
class _Group:
    """Canaries scored over one list of candidate texts (one prefix, suffix and space)."""

    canaries: list[int]  # positions in the canary list
    texts: list[str]
    own: list[int]  # each canary's position in texts
    exclude: list[np.ndarray]  # exact: each canary's other-canary positions in texts
    space_size: list[int]  # the reference space size of each canary (others removed)
    exact: bool
    full_size: int  # the whole space, other canaries included
    ids: list | None = None  # the texts' token ids, once a tokenizer has encoded them


def exposure_plan(canaries: Sequence[Canary], *, samples: int = 2000, seed: int = 0,
                  exact_limit: int = EXACT_LIMIT) -> list[_Group]:  # fmt: skip
    """Which texts to score for each canary, the same for the target and the control models.

    Exact when the space has at most ``exact_limit`` candidates: all of them, with the other
    canaries of the space excluded from the rank. Else ``samples`` candidates drawn uniformly
    from the space without any inserted secret, plus the canaries' own texts.
    """
    inserted: dict = {}
    for c in canaries:
        inserted.setdefault(c.space, set()).add(c.space.index(c.secret))
    by_text: dict = {}
    for k, c in enumerate(canaries):
        by_text.setdefault((c.space, c.prefix, c.suffix), []).append(k)
    groups = []
    for (space, prefix, suffix), members in by_text.items():
        others = inserted[space]
        sizes = [space.size - (len(others) - 1)] * len(members)
        if space.enumerable and space.size <= exact_limit:
            texts = [prefix + s + suffix for s in space.candidates()]
            own = [space.index(canaries[k].secret) for k in members]
            exclude = [np.array(sorted(others - {i}), dtype=np.int64) for i in own]
            groups.append(_Group(members, texts, own, exclude, sizes, True, space.size))
        else:
            rng = np.random.default_rng(np.random.SeedSequence([seed, 0xE4B0, space.size]))
            picks = []
            while len(picks) < samples:
                draw = rng.integers(0, space.size, size=samples, dtype=np.int64)
                picks += [int(j) for j in draw if int(j) not in others][: samples - len(picks)]
            texts = [prefix + space.candidate(j) + suffix for j in picks]
            own = list(range(len(texts), len(texts) + len(members)))
            texts += [canaries[k].text for k in members]
            groups.append(_Group(members, texts, own, [], sizes, False, space.size))
    return groups


class Exposure(NamedTuple):
    """(n,) exposure of each canary by the reference convention, and ranked among all the
    candidates, the other canaries included (the convention before; for comparison only)."""

    reference: np.ndarray
    all_candidates: np.ndarray


def plan_exposure(model, tokenizer, plan: list[_Group], n: int) -> Exposure:
    """Exposure of each canary under ``model`` by :func:`exposure_plan`'s plan, both conventions
    from one scoring pass; NaN for a canary whose texts do not fit the model's context."""
    from memlens.lm.measures import exposure_exact, exposure_skew_normal
    from memlens.lm.model import context_length

    out = np.full((2, n), np.nan)
    for g in plan:
        if g.ids is None:  # tokenized once, for the target and every control model
            g.ids = encode(tokenizer, g.texts)
        if max(map(len, g.ids)) > context_length(model):
            continue  # longer than the context: not scored (NaN), counted in lm.json
        lp = candidate_logprobs(model, tokenizer, g.ids)
        for j, k in enumerate(g.canaries):
            own = lp[g.own[j]]
            if g.exact:
                out[0, k] = exposure_exact(own, lp, exclude=g.exclude[j])
                out[1, k] = exposure_exact(own, lp)
            else:
                sample = lp[: len(lp) - len(g.canaries)]
                out[0, k] = exposure_skew_normal(own, sample, space_size=int(g.space_size[j]))
                out[1, k] = exposure_skew_normal(own, sample, space_size=int(g.full_size))
    return Exposure(out[0], out[1])


def untrained_twin(model, seed: int):
    """A freshly initialised model of ``model``'s configuration (the control's null model)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        twin = AutoModelForCausalLM.from_config(model.config)
    return twin.eval()


def control_seeds(seed: int, inits: int = CONTROL_INITS) -> list[int]:
    """The initialisation seeds of the tokenizer-only control, derived from the run seed."""
    state = np.random.SeedSequence([seed, 0xC047]).generate_state(inits)
    return [int(s) for s in state]


def tokenizer_control(
    model, tokenizer, plan, n: int, *, seed: int = 0, inits: int = CONTROL_INITS
) -> np.ndarray:
    """(n,) mean exposure of each canary under ``inits`` untrained twins of ``model``."""
    runs = [
        plan_exposure(untrained_twin(model, s), tokenizer, plan, n).reference
        for s in control_seeds(seed, inits)
    ]
    return np.mean(runs, axis=0)


def secret_single_token(tokenizer, canaries: Sequence[Canary]) -> np.ndarray:
    """(C,) bool: the secret is carried by a single token of the canary's tokenized text."""
    out = np.zeros(len(canaries), dtype=bool)
    for k, c in enumerate(canaries):
        a, b = len(c.prefix), len(c.prefix) + len(c.secret)
        if getattr(tokenizer, "is_fast", False):
            enc = tokenizer(c.text, add_special_tokens=False, return_offsets_mapping=True)
            out[k] = sum(1 for s, e in enc["offset_mapping"] if s < b and e > a) == 1
        else:
            whole = tokenizer(c.prefix + c.secret, add_special_tokens=False)["input_ids"]
            head = tokenizer(c.prefix.rstrip(), add_special_tokens=False)["input_ids"]
            out[k] = len(whole) - len(head) == 1
    return out


# --- extraction ---------------------------------------------------------------------------------


def _writes(generated: str, target: str) -> bool:
    """Whether ``generated`` starts with ``target`` and stops there (no further letter or digit)."""
    if not generated.startswith(target):
        return False
    rest = generated[len(target) :]
    return not rest or not rest[0].isalnum()


def canary_extraction(
    model, tokenizer, canaries: Sequence[Canary]
) -> tuple[np.ndarray, np.ndarray]:
    """((C,) bool, (C,) bool): greedy decoding writes the secret and the rest of the canary from
    the canary's own prefix, and from its bare template.

    Both prompts are ``[bos, prompt]`` with the prompt's trailing space left to the secret (as
    byte-level BPE tokenizes it); decoding is compared as text, so a different tokenization of
    the same string counts. A canary of a template with no Faker field has one prompt for both.
    """
    from memlens.lm.generate import greedy_continuations
    from memlens.lm.model import context_length

    if not canaries:
        return np.zeros(0, bool), np.zeros(0, bool)
    limit = context_length(model)
    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    targets = [c.text[len(c.prefix.rstrip()) :] for c in canaries]
    n_new = max(len(enc(c.text)) - len(enc(c.prefix.rstrip())) for c in canaries) + 2
    prompts = sorted({p for c in canaries for p in (c.prefix.rstrip(), c.bare_prefix)})
    ids = {p: [_bos(tokenizer), *enc(p)] for p in prompts}
    fits = [p for p in prompts if len(ids[p]) + n_new <= limit]
    written = {}
    if fits:
        gen = greedy_continuations(model, tokenizer, [ids[p] for p in fits], max_new_tokens=n_new)
        written = {p: tokenizer.decode(list(g)) for p, g in zip(fits, gen, strict=True)}
    own = np.array(
        [
            _writes(written.get(c.prefix.rstrip(), ""), t)
            for c, t in zip(canaries, targets, strict=True)
        ]
    )
    bare = np.array(
        [_writes(written.get(c.bare_prefix, ""), t) for c, t in zip(canaries, targets, strict=True)]
    )
    return own, bare


# --- the audit's columns and summary ------------------------------------------------------------


def canary_columns(model, tokenizer, canaries: Sequence[Canary], *, samples: int = 2000, seed: int = 0,
                   control_inits: int = CONTROL_INITS) -> tuple[dict, dict]:  # fmt: skip
    """The canary columns (:data:`CANARY_COLUMNS`, each (C,), plus ``exposure_with_other_canaries``
    for comparison) and what lm.json says about them."""
    from memlens.lm.measures import exposure_chance
    from memlens.lm.model import context_length

    n = len(canaries)
    if not n:
        return {}, {}
    plan = exposure_plan(canaries, samples=samples, seed=seed)
    exposure, with_others = plan_exposure(model, tokenizer, plan, n)
    control = tokenizer_control(model, tokenizer, plan, n, seed=seed, inits=control_inits)
    own, bare = canary_extraction(model, tokenizer, canaries)
    too_long = int(np.isnan(exposure).sum())
    columns = {
        "exposure": exposure,
        "exposure_control": control,
        "exposure_excess": exposure - control,
        "secret_single_token": secret_single_token(tokenizer, canaries),
        "extracted_from_prefix": own,
        "extracted_from_template": bare,
        "exposure_with_other_canaries": with_others,  # the convention before; not a parquet column
    }
    sizes = np.zeros(n, dtype=np.int64)
    for g in plan:
        sizes[g.canaries] = g.space_size
    method = ("exact" if all(g.exact for g in plan) else
              "skew-normal" if not any(g.exact for g in plan) else "exact and skew-normal")  # fmt: skip
    info = {
        "exposure_method": method,
        "exposure_chance": round(float(np.mean([exposure_chance(int(s)) for s in sizes])), 4),
        "exposure_max": round(float(np.log2(sizes.min())), 4),
        "exposure_protocol": {
            "convention": CONVENTION,
            "control": f"mean exposure under {control_inits} untrained models of the same configuration "
                       "and tokenizer (initialisations seeded from the run seed)",
            "control_seeds": control_seeds(seed, control_inits),
            "extraction": "greedy decoding from [bos, own prefix] and from [bos, bare template label] "
                          "must write the secret and the rest of the canary, compared as text",
        },
    }  # fmt: skip
    if too_long:
        info["too_long_note"] = (
            f"{too_long} canary text(s) with a candidate secret are longer than the model's context "
            f"({context_length(model)} tokens): their exposure was not measured (NaN); use shorter templates."
        )
    return columns, info


def canary_row_columns(model, tokenizer, rows: Sequence[dict], *, samples: int = 2000, seed: int = 0,
                       control_inits: int = CONTROL_INITS) -> tuple[dict, dict]:  # fmt: skip
    """:func:`canary_columns` laid out over the audit's rows (a row's ``canary`` is None for a
    document): floats NaN and flags missing (pandas ``boolean``) on the documents' rows."""
    import pandas as pd

    at = [i for i, r in enumerate(rows) if r["canary"] is not None]
    columns, info = canary_columns(model, tokenizer, [rows[i]["canary"] for i in at], samples=samples,
                                   seed=seed, control_inits=control_inits)  # fmt: skip
    out = {}
    for name in CANARY_COLUMNS:
        if name.startswith(("exposure",)):
            full = np.full(len(rows), np.nan)
            if at:
                full[at] = columns[name]
            out[name] = full
        else:
            values: list = [pd.NA] * len(rows)
            for j, i in enumerate(at):
                values[i] = bool(columns[name][j])
            out[name] = pd.array(values, dtype="boolean")
    return out, info


def canary_summary(canaries_frame, info: dict) -> dict:
    """lm.json's canary numbers from the canary rows: by insertion count, exposed, extracted."""
    can = canaries_frame
    out = dict(info)
    for name, column in (
        ("exposure", "exposure"),
        ("control", "exposure_control"),
        ("excess", "exposure_excess"),
    ):
        out[f"{name}_by_repeats"] = {
            str(int(r)): round(float(g[column].mean()), 3) for r, g in can.groupby("repeats")
        }
    out["exposed_canaries"] = int((can.exposure_excess >= EXPOSED_EXCESS_BITS).sum())
    out["exposed_rule"] = f"excess over the tokenizer-only control >= {EXPOSED_EXCESS_BITS:g} bits"
    out["extracted_from_prefix"] = int(can.extracted_from_prefix.astype(bool).sum())
    out["extracted_from_template"] = int(can.extracted_from_template.astype(bool).sum())
    single = int(can.secret_single_token.astype(bool).sum())
    out["single_token_secrets"] = single
    if single:
        out["single_token_note"] = (
            f"{single} canary secret(s) are single tokens of the tokenizer's vocabulary (it was fitted "
            "on text containing them): their exposure reflects the tokenizer, and an untrained model "
            "already ranks them near the top, so their excess is near 0 even if the model memorised "
            "them (extraction from their own prefix still shows it). Fit the tokenizer on text "
            "without the canaries."
        )
    return out


# --- extraction of every row (documents and canaries) -------------------------------------------


def _secret_start(tokenizer, canary, ids: list[int]) -> int:
    """Tokens (bos included) before the first token that carries the secret."""
    head = tokenizer(canary.prefix.rstrip(), add_special_tokens=False)["input_ids"]
    p = len(head) if ids[1 : 1 + len(head)] == head else 0
    return 1 + p


def _extraction(model, tokenizer, corpus, rows, members, prefix_lengths, suffix_length):
    """(extractable_at_k, longest_verbatim_span) per row, and ``{row: (generation, reference)}``
    from each row's shortest prefix tested (what the granularity detectors judge)."""
    from memlens.lm.generate import greedy_continuations
    from memlens.lm.index import CorpusIndex
    from memlens.lm.model import context_length

    limit = context_length(model)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = tokenizer([r["full_text"] for r in rows], add_special_tokens=False)["input_ids"]
    ids = [[bos, *e] for e in encoded]
    tests = []  # (row, k, reference)
    for i, (r, s) in enumerate(zip(rows, ids, strict=True)):
        if r["canary"] is not None:
            start = _secret_start(tokenizer, r["canary"], s)
            ks = sorted({k for k in prefix_lengths if k < start} | {start})
            for k in ks:
                ref = s[k:]
                if ref and k + len(ref) <= limit:
                    tests.append((i, k, ref))
        else:
            for k in prefix_lengths:
                if k + suffix_length <= min(len(s), limit):
                    tests.append((i, k, s[k : k + suffix_length]))
    ext = np.full(len(rows), -1, dtype=np.int64)
    span = np.zeros(len(rows), dtype=np.int64)
    first_generation = {}
    by_length: dict[int, list] = {}
    for t in tests:
        by_length.setdefault(len(t[2]), []).append(t)
    for length, group in by_length.items():
        gen = greedy_continuations(
            model, tokenizer, [ids[i][:k] for i, k, _ in group], max_new_tokens=length
        )
        for (i, k, ref), g in zip(group, gen, strict=True):
            if ext[i] < 0 or k < ext[i]:
                if list(g) == list(ref):
                    ext[i] = k
            if i not in first_generation or k < first_generation[i][0]:
                first_generation[i] = (k, g, ref)
    train_docs = [e for e, m in zip(tokenizer(corpus.documents, add_special_tokens=False)["input_ids"],
                                    members, strict=True) if m and e]  # fmt: skip
    if train_docs and first_generation:
        index = CorpusIndex(train_docs)
        for i, (_, g, _) in first_generation.items():
            span[i] = index.longest_verbatim_span(
                np.asarray(g[:suffix_length], dtype=np.int64)
            ).length
    return ext, span, {i: (g, ref) for i, (_, g, ref) in first_generation.items()}
