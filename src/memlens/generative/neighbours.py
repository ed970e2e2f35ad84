"""Exact nearest and second-nearest neighbours of many queries among many references, in blocks.

For 8-bit images the distances are exact integers (int8 matrix products, or float32 while that is
exact), so ties are real ties; memory stays at one block of distances (``BLOCK_BYTES``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MemlensError

BLOCK_BYTES = 64 * 2**20
"""Bytes of one (samples × training images) block of distances; read at call time."""

_FLOAT32_EXACT_DIMS = 1024
"""Centred 8-bit vectors (values in [-128, 127]) of up to this many values have dot products
below 2**24 in absolute value at every partial sum, so float32 matrix products are exact."""

_INT32_EXACT_DIMS = 43690
"""Up to this many values, ‖y‖² − 2x·y of centred 8-bit vectors (|.| ≤ 3·D·2**14) fits int32."""


class ReplicationInputError(MemlensError, ValueError):
    """Images or features given to the replication search are malformed."""


@dataclass(frozen=True, eq=False)
class NearestTwo:
    """The two nearest references of each query, nearest first; all arrays have B rows.

    Attributes:
        index: (B, 2) int64 reference rows; among equal distances the lower row comes first.
        sq_distance: (B, 2) float64 squared ℓ2 distances (exact integers for 8-bit input).
    """

    index: np.ndarray
    sq_distance: np.ndarray


def nearest_two(
    queries, references, *, block_bytes: int | None = None, backend: str = "auto"
) -> NearestTwo:
    """Exact nearest and second-nearest ℓ2 neighbours of each query row among the reference rows.

    Distances are ``‖x‖² − 2 x·y + ‖y‖²`` from one matrix product per block of (queries ×
    references), at most ``block_bytes`` (default ``BLOCK_BYTES``) of distances each. For uint8
    input the vectors are centred at 128 (values in [-128, 127]) and multiplied exactly: as int8
    with int32 sums (torch's ``_int_mm``, which uses the CPU's 8-bit dot-product instructions),
    or, with ``backend="numpy"`` or where torch cannot, in float32 (≤ 1,024 values; float64
    beyond), whose partial sums stay below 2**24 and are therefore exact too. Distances are then
    compared as integers: ties are exact and go to the lower row. Float input is centred on the
    reference mean and multiplied in float64; the two distances returned are recomputed directly
    as ``Σ (x − y)²``, so an exact copy has distance 0.

    Args:
        queries: (B, D) uint8 or float array.
        references: (N, D) array of the same kind, N ≥ 2.
        block_bytes: memory for one block of distances.
        backend: ``"auto"`` (torch's int8 product for 8-bit input where available, else numpy),
            ``"torch"`` or ``"numpy"``; all give the same answer.

    Returns:
        ``NearestTwo`` with (B, 2) ``index`` and ``sq_distance``.

    Example:
        >>> refs = np.array([[0, 0], [3, 4], [0, 0]], dtype=np.uint8)
        >>> nn = nearest_two(np.array([[0, 1]], dtype=np.uint8), refs)
        >>> nn.index.tolist(), nn.sq_distance.tolist()
        ([[0, 2]], [[1.0, 1.0]])
    """
    q = np.asarray(queries)
    r = np.asarray(references)
    if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1]:
        raise ReplicationInputError(
            f"Queries and references must be (B, D) and (N, D) arrays with the same D; got shapes "
            f"{q.shape} and {r.shape}. Flatten each image or feature vector into one row."
        )
    if r.shape[0] < 2:
        raise ReplicationInputError(
            f"The second-nearest neighbour needs at least 2 reference rows; got {r.shape[0]}."
        )
    if q.shape[0] == 0:
        raise ReplicationInputError("There are no queries (generated samples) to search for.")
    if backend not in ("auto", "torch", "numpy"):
        raise ReplicationInputError(f"backend must be 'auto', 'torch' or 'numpy'; got {backend!r}.")
    integer = q.dtype == np.uint8 and r.dtype == np.uint8
    if not integer:
        for name, a in (("queries", q), ("references", r)):
            if a.dtype.kind not in "fiub" or not np.isfinite(a).all():
                raise ReplicationInputError(
                    f"The {name} must be finite numbers; found dtype {a.dtype} or NaN/infinite "
                    "values. Check the sampler or encoder that produced them."
                )
    budget = int(block_bytes if block_bytes is not None else BLOCK_BYTES)

    if integer:
        # p − 128 as int8 is p with its top bit flipped, read as two's complement: no wider copy
        q_work = np.bitwise_xor(q, np.uint8(128)).view(np.int8)  # (B, D), values in [-128, 127]
        r_work = np.bitwise_xor(r, np.uint8(128)).view(np.int8)  # (N, D)
        blocks = None
        if backend != "numpy" and r.shape[1] <= _INT32_EXACT_DIMS:
            blocks = _torch_int8_blocks(q_work, r_work)
        if blocks is not None:
            import torch

            # One single-threaded worker per torch thread, each on its own query blocks: no
            # barrier inside every small operation, so a busy (shared) CPU does not stall them.
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                index = _top_two(blocks, q.shape[0], r.shape[0], budget, True, workers=threads)
            finally:
                torch.set_num_threads(threads)
        if blocks is None:
            if backend == "torch":
                raise ReplicationInputError(
                    "backend='torch' needs torch with int8 matrix products (torch._int_mm) and at "
                    f"most {_INT32_EXACT_DIMS} values per image; use backend='auto'."
                )
            blocks = _numpy_blocks(q_work, r_work, integer=True)
            index = _top_two(blocks, q.shape[0], r.shape[0], budget, True)
    else:
        centre = r.mean(axis=0, dtype=np.float64)
        q_work = q.astype(np.float64) - centre
        r_work = r.astype(np.float64) - centre
        blocks = _numpy_blocks(q_work, r_work, integer=False)
        index = _top_two(blocks, q.shape[0], r.shape[0], budget, False)

    # The pair's squared distances, recomputed directly (exact for 8-bit input), nearest first.
    exact_type = np.int64 if integer else np.float64
    sq = np.empty((q.shape[0], 2), dtype=np.float64)
    for start in range(0, q.shape[0], 4096):
        rows = slice(start, start + 4096)
        qd = q_work[rows].astype(exact_type)
        for j in range(2):
            diff = qd - r_work[index[rows, j]]
            sq[rows, j] = np.einsum("bd,bd->b", diff, diff)
    swap = (sq[:, 1] < sq[:, 0]) | ((sq[:, 1] == sq[:, 0]) & (index[:, 1] < index[:, 0]))
    index[swap] = index[swap][:, ::-1]
    sq[swap] = sq[swap][:, ::-1]
    return NearestTwo(index=index, sq_distance=sq)


def _torch_int8_blocks(q_work, r_work):
    """Block scorer on torch int8 products, or None where torch cannot multiply int8 exactly."""
    try:
        import torch

        int_mm = torch._int_mm
        qt = torch.from_numpy(q_work)  # (B, D) int8
        rt = torch.from_numpy(r_work)  # (N, D) int8
        probe = int_mm(qt[:1], rt[:2].T)
        if not torch.equal(probe.long(), qt[:1].long() @ rt[:2].long().T):
            return None
    except (ImportError, AttributeError, RuntimeError, NotImplementedError):
        return None
    norms = torch.from_numpy(np.einsum("nd,nd->n", r_work, r_work, dtype=np.int64).astype(np.int32))
    sentinel = np.iinfo(np.int32).max

    def block(qsl: slice, rsl: slice):
        prod = int_mm(qt[qsl], rt[rsl].T)  # (b, n) int32, exact
        dist = torch.add(norms[rsl], prod, alpha=-2)  # ‖y‖² − 2x·y, |.| < 3·D·2**14 < 2**31
        rows = torch.arange(dist.shape[0])
        v1, a1 = dist.min(dim=1)  # the first minimum: the lower row on ties
        dist[rows, a1] = sentinel
        v2, a2 = dist.min(dim=1)
        return a1.numpy(), v1.numpy().astype(np.int64), a2.numpy(), v2.numpy().astype(np.int64)

    return block


def _numpy_blocks(q_work, r_work, *, integer: bool):
    """Block scorer on numpy products: exact in float32/float64 for centred 8-bit values."""
    if integer:
        work = np.float32 if r_work.shape[1] <= _FLOAT32_EXACT_DIMS else np.float64
        qf, rf = q_work.astype(work), r_work.astype(work)
        norms = np.einsum("nd,nd->n", r_work, r_work, dtype=np.int64)
        sentinel = np.iinfo(np.int64).max
    else:
        qf, rf = q_work, r_work
        norms = np.einsum("nd,nd->n", r_work, r_work)
        sentinel = np.inf

    def block(qsl: slice, rsl: slice):
        prod = qf[qsl] @ rf[rsl].T  # (b, n): exact integers for 8-bit input
        dist = prod.astype(np.int64) if integer else prod
        dist *= -2
        dist += norms[rsl]
        rows = np.arange(dist.shape[0])
        a1 = dist.argmin(axis=1)  # the first minimum: the lower row on ties
        v1 = dist[rows, a1]
        dist[rows, a1] = sentinel
        a2 = dist.argmin(axis=1)
        return a1, v1, a2, dist[rows, a2]

    return block


def _top_two(block, n_queries: int, n_refs: int, budget: int, integer: bool, workers: int = 1):
    """Running two smallest ``‖y‖² − 2x·y`` per query over blocks; ties to the lower row.

    Query blocks are independent; with ``workers`` > 1 they run in that many threads (the
    products release the GIL), each within ``budget / workers`` bytes.
    """
    big = np.iinfo(np.int64).max if integer else np.inf
    best_val = np.full((n_queries, 2), big, dtype=np.int64 if integer else np.float64)
    best_idx = np.zeros((n_queries, 2), dtype=np.int64)
    elements = max(budget // (8 * workers), 1)  # a product and its distances: ≤ 8 bytes each
    q_block = int(min(n_queries, max(256, int(np.sqrt(elements) // 2))))
    r_block = int(min(n_refs, max(2, elements // q_block)))

    def one_query_block(qs: int) -> None:
        qsl = slice(qs, min(qs + q_block, n_queries))
        val, idx = best_val[qsl], best_idx[qsl]
        for rs in range(0, n_refs, r_block):
            a1, v1, a2, v2 = block(qsl, slice(rs, min(rs + r_block, n_refs)))
            # Merge four candidates; earlier blocks hold lower rows, so order (value, row).
            cand_val = np.stack([val[:, 0], val[:, 1], v1, v2], axis=1)  # (b, 4)
            cand_idx = np.stack([idx[:, 0], idx[:, 1], a1 + rs, a2 + rs], axis=1)
            order = np.lexsort((cand_idx, cand_val), axis=1)[:, :2]
            val[:] = np.take_along_axis(cand_val, order, axis=1)
            idx[:] = np.take_along_axis(cand_idx, order, axis=1)

    starts = range(0, n_queries, q_block)
    if workers > 1 and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one_query_block, starts))  # list() re-raises a worker's exception
    else:
        for qs in starts:
            one_query_block(qs)
    return best_idx
