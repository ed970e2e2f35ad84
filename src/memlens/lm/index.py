"""A suffix-array index of a tokenized training corpus: does an n-gram occur, how often, where.

Verbatim-memorization audits ask of every generation "which of its n-grams are in the training
data, and what is the longest span copied verbatim?" (Carlini et al., "Quantifying Memorization
Across Neural Language Models", 2023, count n-gram overlap this way; Ippolito et al., 2023, block
on it). A Python ``set`` answers one fixed n and costs ~100 bytes per n-gram; a suffix array
answers every n, counts and locates occurrences, and costs 4 bytes per token plus the tokens.

Layout: the documents are concatenated, each followed by one separator token ``sep = max token +
1``, which no query can contain (queries with a token outside ``[0, sep)`` simply do not occur), so
no match spans two documents. The tokens are stored big-endian in the narrowest unsigned width
that holds ``sep`` (1, 2 or 4 bytes), so the byte string sorts exactly like the token string at
token-aligned offsets; ``pydivsufsort`` sorts the byte suffixes and the aligned ones are kept. The
same byte layout lets libdivsufsort's C ``sa_search`` answer single queries.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from memlens.errors import DataError, MemlensError
from memlens.store import sha256_file

FORMAT = "memlens-corpus-index"
FORMAT_VERSION = 1
_FILES = ("tokens.npy", "suffix_array.npy", "doc_offsets.npy")
_MAX_TOKEN = 2**32 - 2  # sep = max token + 1 must fit in uint32


class CorpusIndexError(MemlensError, ValueError):
    """An index folder is missing, foreign, from another format version, or damaged."""


class Span(NamedTuple):
    """The longest verbatim span of a generation: ``generated[start:start + length]``.

    ``doc`` is the smallest id of a document containing it; -1 (and ``length`` 0) when not even
    one token of the generation occurs in the corpus.
    """

    length: int
    start: int
    doc: int


def _as_tokens(x, name: str) -> np.ndarray:
    """A 1-D int64 copy of a token sequence; TypeError for non-integers."""
    a = np.asarray(x)
    if a.size == 0 and a.dtype.kind in "fO":  # [] arrives as float64
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer token ids, got dtype {a.dtype}")
    if a.ndim != 1:
        raise DataError(f"{name} must be a 1-D token sequence, got shape {a.shape}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise DataError(f"{name} holds token ids above {_MAX_TOKEN}")
    return a.astype(np.int64)


class _SaSearch:
    """libdivsufsort's ``sa_search`` with its own prototypes (pydivsufsort's CDLL is left alone)."""

    def __init__(self):
        from pydivsufsort import dll

        self.fns = {}
        for path, name, idx in (
            (dll.PATH_LIBDIVSUFSORT, "sa_search", ctypes.c_int32),
            (dll.PATH_LIBDIVSUFSORT64, "sa_search64", ctypes.c_int64),
        ):
            fn = getattr(ctypes.CDLL(str(path)), name)
            u8 = ctypes.POINTER(ctypes.c_uint8)
            fn.argtypes = [u8, idx, u8, idx, ctypes.POINTER(idx), idx, ctypes.POINTER(idx)]
            fn.restype = idx
            self.fns[np.dtype(idx)] = (fn, idx)


_sa_search: _SaSearch | None = None


class CorpusIndex:
    """Suffix array of a tokenized corpus: n-gram counts, documents and longest verbatim spans.

    Build it once from the training documents (token-id sequences, e.g. from a BPE tokenizer),
    query it with any n-gram length, and ``save`` / ``load`` it (memory-mapped) with the run.

    Attributes:
        tokens: (N,) the concatenated documents, each followed by the separator ``sep``;
            big-endian uint8/uint16/uint32.
        suffix_array: (N,) int32 (int64 past 2**31 bytes of tokens): the *byte* offset (token
            offset × ``width``) of every token-aligned suffix, in sorted order. Byte offsets
            are what libdivsufsort's C search reads; divide by ``width`` for token offsets.
        doc_offsets: (D + 1,) int64; document d is ``tokens[doc_offsets[d]:doc_offsets[d+1] - 1]``.

    Example:
        >>> index = CorpusIndex([[1, 2, 3, 1, 2], [2, 3, 7], [1, 2]])
        >>> index.count([1, 2]), index.count([3, 2]), index.documents([2, 3]).tolist()
        (3, 0, [0, 1])
        >>> index.count([2, 1])  # [.. 2] + [1 ..] spans documents 1 and 2: never a match
        0
        >>> index.longest_verbatim_span([9, 2, 3, 7, 9])
        Span(length=3, start=1, doc=1)
    """

    def __init__(self, documents, *, _arrays=None):
        if _arrays is not None:  # from load()
            self.tokens, self.suffix_array, self.doc_offsets, self.sep = _arrays
        else:
            self._build(documents)
        self._block_values = self._block_starts = None
        self.n_documents = len(self.doc_offsets) - 1
        self.max_document_length = int(np.diff(self.doc_offsets).max()) - 1

    # --- building ------------------------------------------------------------------------

    def _build(self, documents) -> None:
        from pydivsufsort import divsufsort

        if isinstance(documents, np.ndarray) and documents.ndim == 1 and documents.dtype != object:
            raise DataError("documents must be a list of token sequences, not one flat sequence")
        docs = [_as_tokens(d, f"document {i}") for i, d in enumerate(documents)]
        if not docs or sum(len(d) for d in docs) == 0:
            raise DataError("cannot index an empty corpus: no documents, or only empty ones")
        lo = min(int(d.min()) for d in docs if len(d))
        hi = max(int(d.max()) for d in docs if len(d))
        if lo < 0:
            raise DataError(f"token ids must be >= 0, found {lo}")
        if hi > _MAX_TOKEN:
            raise DataError(f"token ids must be <= {_MAX_TOKEN}, found {hi}")
        sep = hi + 1
        width = 1 if sep <= 0xFF else 2 if sep <= 0xFFFF else 4
        dtype = np.dtype(f">u{width}")

        lengths = np.array([len(d) + 1 for d in docs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])  # (D + 1,)
        n = int(offsets[-1])
        tokens = np.full(n, sep, dtype=dtype)  # writable: divsufsort refuses read-only arrays
        for d, start in zip(docs, offsets[:-1], strict=False):
            tokens[start : start + len(d)] = d
        # Sort the byte suffixes; big-endian fixed width makes token-aligned byte suffixes sort
        # exactly as token suffixes, so the aligned ones, in order, are the token suffix array.
        sa = divsufsort(tokens.view(np.uint8))  # (N * width,) byte offsets
        if width > 1:
            sa = sa[sa % width == 0]  # (N,) token-aligned, still in byte units
        self.tokens = tokens
        big = n * width >= 2**31
        self.suffix_array = np.ascontiguousarray(sa, dtype=np.int64 if big else np.int32)
        self.doc_offsets = offsets
        self.sep = sep

    # --- properties ----------------------------------------------------------------------

    @property
    def width(self) -> int:
        """Bytes per stored token (1, 2 or 4)."""
        return self.tokens.dtype.itemsize

    @property
    def n_tokens(self) -> int:
        """Corpus tokens, separators excluded."""
        return len(self.tokens) - self.n_documents

    @property
    def memory_bytes(self) -> int:
        """Bytes of the arrays (mapped, not necessarily resident, after ``load``) and the block
        table that batched queries add on first use."""
        extra = 0 if self._block_values is None else self._block_values.nbytes * 2 + 8
        return int(self.tokens.nbytes + self.suffix_array.nbytes + self.doc_offsets.nbytes + extra)

    def __repr__(self) -> str:
        return (
            f"CorpusIndex({self.n_documents} documents, {self.n_tokens} tokens, "
            f"{self.tokens.dtype.itemsize}-byte tokens, {self.memory_bytes / 2**20:.1f} MiB)"
        )

    def doc_of_position(self, positions) -> np.ndarray:
        """Document id of each token offset in ``tokens``; (P,) int64."""
        pos = np.asarray(positions, dtype=np.int64)
        return np.searchsorted(self.doc_offsets, pos, side="right") - 1

    # --- single n-grams ------------------------------------------------------------------

    def _query(self, ngram) -> np.ndarray | None:
        """Validated int64 n-gram, or None when it holds a token the corpus cannot contain."""
        q = _as_tokens(ngram, "ngram")
        if len(q) == 0:
            raise DataError("an n-gram needs at least one token")
        if len(q) > self.max_document_length:
            raise DataError(
                f"the n-gram has {len(q)} tokens but the longest document has "
                f"{self.max_document_length}; it cannot occur"
            )
        return q if (q.min() >= 0 and q.max() < self.sep) else None

    def _range(self, q: np.ndarray) -> tuple[int, int]:
        """(first suffix-array row, count) of the suffixes starting with ``q``, via C sa_search."""
        global _sa_search
        if _sa_search is None:
            _sa_search = _SaSearch()
        fn, idx = _sa_search.fns[self.suffix_array.dtype]
        u8 = ctypes.POINTER(ctypes.c_uint8)
        pattern = q.astype(self.tokens.dtype).tobytes()
        left = idx()
        count = fn(
            self.tokens.ctypes.data_as(u8),
            self.tokens.nbytes,
            ctypes.cast(ctypes.c_char_p(pattern), u8),
            len(pattern),
            self.suffix_array.ctypes.data_as(ctypes.POINTER(idx)),
            len(self.suffix_array),
            ctypes.byref(left),
        )
        if count < 0:
            raise RuntimeError(f"libdivsufsort sa_search failed ({count})")
        return int(left.value), int(count)

    def count(self, ngram) -> int:
        """Occurrences of ``ngram`` (1-D ints) in the corpus; O(m log N)."""
        q = self._query(ngram)
        return 0 if q is None else self._range(q)[1]

    def contains(self, ngram) -> bool:
        """Whether ``ngram`` occurs anywhere in the corpus."""
        return self.count(ngram) > 0

    def positions(self, ngram) -> np.ndarray:
        """Sorted token offsets (into ``tokens``) where ``ngram`` starts; (count,) int64."""
        q = self._query(ngram)
        if q is None:
            return np.zeros(0, dtype=np.int64)
        left, count = self._range(q)
        return np.sort(self.suffix_array[left : left + count].astype(np.int64) // self.width)

    def documents(self, ngram) -> np.ndarray:
        """Sorted ids of the documents containing ``ngram``; (k,) int64."""
        return np.unique(self.doc_of_position(self.positions(ngram)))

    # --- many n-grams at once ------------------------------------------------------------

    def _compare(self, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """Sign of (suffix at SA row - query), comparing len(query) tokens; (Q,) int8.

        ``queries`` (Q, m) int64 may hold -1 as an end marker (smaller than every token).
        """
        m = queries.shape[1]
        last = len(self.tokens) - 1  # a separator: every comparison is decided by then
        pos = self.suffix_array[rows].astype(np.int64) // self.width  # (Q,) token offsets
        windows = self.tokens[np.minimum(pos[:, None] + np.arange(m), last)].astype(np.int64)
        differ = windows != queries  # (Q, m)
        first = differ.argmax(axis=1)  # (Q,)
        r = np.arange(len(rows))
        sign = np.sign(windows[r, first] - queries[r, first]).astype(np.int8)
        return np.where(differ.any(axis=1), sign, 0)

    def _blocks(self, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SA rows [start, stop) of the suffixes beginning with each token of ``first``; (Q,) each.

        Suffixes sort by their first token first, so each token owns one block of rows; the block
        table (distinct tokens, cumulative counts) is computed once, on first use.
        """
        if self._block_values is None:
            if self.sep < 2**17:
                counts = np.bincount(self.tokens.astype(np.int64), minlength=self.sep + 1)
                values = np.flatnonzero(counts)
                counts = counts[values]
            else:
                values, counts = np.unique(self.tokens, return_counts=True)
            self._block_values = values.astype(np.int64)
            self._block_starts = np.concatenate([[0], np.cumsum(counts)])
        k = np.minimum(np.searchsorted(self._block_values, first), len(self._block_values) - 1)
        found = self._block_values[k] == first
        start = np.where(found, self._block_starts[k], 0)
        return start, np.where(found, self._block_starts[k + 1], 0)

    def _lower_bounds(self, queries: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """First SA row in [lo, hi) whose suffix is >= each query on its first m tokens; (Q,).

        One binary search vectorized over the Q queries (m tokens compared per step).
        """
        n = len(self.suffix_array)
        lo, hi = lo.astype(np.int64), hi.astype(np.int64)
        while True:
            active = lo < hi
            if not active.any():
                return lo
            mid = (lo + hi) // 2
            right = active & (self._compare(np.minimum(mid, n - 1), queries) < 0)
            lo = np.where(right, mid + 1, lo)
            hi = np.where(active & ~right, mid, hi)

    def count_many(self, ngrams) -> np.ndarray:
        """Occurrences of each row of ``ngrams`` (Q, m) ints; (Q,) int64, vectorized over Q."""
        a = np.asarray(ngrams)
        if a.ndim != 2:
            raise DataError(f"ngrams must be a (Q, m) array, got shape {a.shape}")
        if a.dtype.kind not in "iu":
            if a.size == 0 and a.dtype.kind == "f":
                a = a.astype(np.int64)
            else:
                raise TypeError(f"ngrams must hold integer token ids, got dtype {a.dtype}")
        if a.shape[1] == 0:
            raise DataError("an n-gram needs at least one token")
        if a.shape[1] > self.max_document_length:
            raise DataError(
                f"the n-grams have {a.shape[1]} tokens but the longest document has "
                f"{self.max_document_length}; they cannot occur"
            )
        if a.dtype == np.uint64 and a.size and a.max() > self.sep:
            a = np.minimum(a, self.sep)  # out of range either way; keeps int64 exact
        q = a.astype(np.int64)
        out = np.zeros(len(q), dtype=np.int64)
        ok = ((q >= 0) & (q < self.sep)).all(axis=1)
        if ok.any():
            qs = q[ok]  # (Q', m)
            start, stop = self._blocks(qs[:, 0])
            if qs.shape[1] == 1:
                out[ok] = stop - start
            else:
                # rows of q end where rows >= q with its last token + 1 begin: one search for both
                bumped = qs.copy()
                bumped[:, -1] += 1
                both = self._lower_bounds(
                    np.concatenate([qs, bumped]), np.tile(start, 2), np.tile(stop, 2)
                )
                out[ok] = both[len(qs) :] - both[: len(qs)]
        return out

    def ngram_in_corpus_mask(self, generated, n: int) -> np.ndarray:
        """Which n-grams of a generation occur in the corpus; (L - n + 1,) bool (empty if L < n).

        Entry i is True when ``generated[i:i + n]`` occurs verbatim in some training document.
        """
        g = _as_tokens(generated, "generated")
        n = int(n)
        if n < 1:
            raise DataError(f"n must be >= 1, got {n}")
        if len(g) < n:
            if n > self.max_document_length:
                raise DataError(
                    f"n = {n} exceeds the longest document ({self.max_document_length} tokens)"
                )
            return np.zeros(0, dtype=bool)
        windows = np.lib.stride_tricks.sliding_window_view(g, n)  # (L - n + 1, n)
        return self.count_many(windows) > 0

    # --- longest verbatim span (matching statistics) --------------------------------------

    def match_lengths(self, generated) -> np.ndarray:
        """Matching statistics: for each start i, the longest l with ``generated[i:i+l]`` in the
        corpus; (L,) int64.

        For every start, the query ``generated[i:i+W]`` is located in the suffix array (one
        vectorized binary search over all starts); the suffix sharing the longest prefix with it
        is a neighbour of its insertion point. Starts whose match reaches the window W are redone
        with 2W, so the cost is O(L · W · log N) with W about the longest match.
        """
        g = _as_tokens(generated, "generated")
        L = len(g)
        out = np.zeros(L, dtype=np.int64)
        if L == 0:
            return out
        g = np.where((g >= 0) & (g < self.sep), g, -1)  # a foreign token ends every match
        cap = self.max_document_length
        todo = np.arange(L)
        width = min(32, cap)
        n = len(self.suffix_array)
        while len(todo):
            w = min(width, cap)
            idx = todo[:, None] + np.arange(w)  # (T, w)
            q = np.where(idx < L, g[np.minimum(idx, L - 1)], -1)  # -1 = end of query
            at = self._lower_bounds(q, *self._blocks(q[:, 0]))  # insertion point of each query
            best = np.zeros(len(todo), dtype=np.int64)
            for rows in (at - 1, at):
                valid = (rows >= 0) & (rows < n)
                r = np.clip(rows, 0, n - 1)
                pos = self.suffix_array[r].astype(np.int64) // self.width
                win = self.tokens[np.minimum(pos[:, None] + np.arange(w), len(self.tokens) - 1)]
                same = win.astype(np.int64) == q  # (T, w); q's -1 never matches
                lcp = np.where(same.all(axis=1), w, same.argmin(axis=1))
                best = np.maximum(best, np.where(valid, lcp, 0))
            out[todo] = best
            if w >= cap:
                break
            todo = todo[(best == w) & (todo + w < L)]  # truncated: the match may go on
            width = 2 * w
        return out

    def longest_verbatim_span(self, generated) -> Span:
        """The longest contiguous span of ``generated`` found verbatim in one training document.

        Returns:
            :class:`Span` ``(length, start, doc)``; ties go to the earliest start, ``doc`` is the
            smallest id of a document containing the span, ``(0, 0, -1)`` if nothing matches.
        """
        ms = self.match_lengths(generated)
        if len(ms) == 0 or ms.max() == 0:
            return Span(0, 0, -1)
        start = int(ms.argmax())
        length = int(ms[start])
        g = _as_tokens(generated, "generated")
        doc = int(self.documents(g[start : start + length])[0])
        return Span(length, start, doc)

    # --- persistence ---------------------------------------------------------------------

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write ``tokens.npy``, ``suffix_array.npy``, ``doc_offsets.npy`` and ``index.json``.

        The folder is assembled under a temporary name and renamed into place, so a crash never
        leaves a half-written index. An existing folder is replaced only with ``overwrite=True``
        and only if it is itself an index.
        """
        path = Path(path)
        if path.exists():
            if not overwrite:
                raise CorpusIndexError(f"{path} already exists; pass overwrite=True to replace it")
            if not (path / "index.json").exists():
                raise CorpusIndexError(f"{path} exists and is not a corpus index; not replacing it")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
        try:
            meta = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "n_documents": self.n_documents,
                "n_tokens": self.n_tokens,
                "separator": self.sep,
                "token_dtype": self.tokens.dtype.str,
                "suffix_array_dtype": self.suffix_array.dtype.str,
                "files": {},
            }
            for name, arr in zip(_FILES, self._arrays(), strict=True):
                np.save(tmp / name, np.ascontiguousarray(arr))
                meta["files"][name] = sha256_file(tmp / name)
            (tmp / "index.json").write_text(json.dumps(meta, indent=2) + "\n")
            os.chmod(tmp, 0o777 & ~_umask())
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        return path

    def _arrays(self):
        return self.tokens, self.suffix_array, self.doc_offsets

    @classmethod
    def load(cls, path, *, verify: bool = True) -> CorpusIndex:
        """Open a saved index with its arrays memory-mapped read-only.

        Args:
            path: folder written by :meth:`save`.
            verify: check every file's SHA-256 (reads the files once; turn off for huge indexes
                whose shapes and dtypes are still checked).

        Raises:
            CorpusIndexError: the folder is missing, not an index, another format version, or
                damaged (a file missing, truncated, or not matching its checksum).
        """
        path = Path(path)
        meta_file = path / "index.json"
        if not path.is_dir():
            raise CorpusIndexError(f"{path} is not a folder; no corpus index there")
        try:
            meta = json.loads(meta_file.read_text())
        except FileNotFoundError:
            raise CorpusIndexError(f"{path} is not a corpus index (no index.json)") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise CorpusIndexError(f"{meta_file} is damaged ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CorpusIndexError(f"{path} is not a memlens corpus index (index.json format)")
        if meta.get("version") != FORMAT_VERSION:
            raise CorpusIndexError(
                f"{path} is a corpus index of format version {meta.get('version')}; this memlens "
                f"reads version {FORMAT_VERSION}. Rebuild the index."
            )
        arrays = []
        for name in _FILES:
            f = path / name
            if not f.exists():
                raise CorpusIndexError(f"{path} is damaged: {name} is missing")
            if verify and sha256_file(f) != meta.get("files", {}).get(name):
                raise CorpusIndexError(
                    f"{path} is damaged: {name} does not match its checksum; rebuild the index"
                )
            try:
                arrays.append(np.load(f, mmap_mode="r", allow_pickle=False))
            except (ValueError, OSError, EOFError) as e:
                raise CorpusIndexError(f"{path} is damaged: {name} cannot be read ({e})") from None
        tokens, sa, offsets = arrays
        n = meta.get("n_tokens", -1) + meta.get("n_documents", -1)
        problems = []
        if tokens.ndim != 1 or tokens.dtype.str != meta.get("token_dtype") or len(tokens) != n:
            problems.append("tokens.npy has the wrong shape or dtype")
        if sa.shape != tokens.shape or sa.dtype.str != meta.get("suffix_array_dtype"):
            problems.append("suffix_array.npy has the wrong shape or dtype")
        if (
            offsets.shape != (meta.get("n_documents", -1) + 1,)
            or offsets.dtype != np.int64
            or offsets[0] != 0
            or offsets[-1] != len(tokens)
        ):
            problems.append("doc_offsets.npy does not match the tokens")
        if problems:
            raise CorpusIndexError(f"{path} is damaged: {'; '.join(problems)}")
        return cls(None, _arrays=(tokens, sa, offsets, int(meta["separator"])))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
