"""The examples themselves: gallery thumbnails and the all-examples table's embedded data.

Thumbnails are tiny PNGs at the data's own resolution (8×8, 28×28), encoded here with zlib and
scaled up by the browser with ``image-rendering: pixelated``: a 24-image gallery costs a few KB.
The table's data is one JSON document, column by column, safe to embed in a ``<script>`` block.
"""

from __future__ import annotations

import json
import math
import struct
import zlib

import numpy as np

#: columns every run has, with what they mean; any other numeric column is a score an estimator added
COLUMN_HELP = {
    "id": "example id: its row in the dataset",
    "label": "the label the models were trained on (after any plant)",
    "original_label": "the label before a plant changed it",
    "memorization": "Feldman–Zhang memorization: accuracy of models trained on the example minus accuracy of models that held it out",
    "memorization_stderr": "standard error of the memorization estimate",
    "in_count": "models that trained on the example",
    "out_count": "models that held the example out",
    "accuracy_in": "fraction of models trained on the example that classify it as labelled",
    "accuracy_out": "fraction of models that held it out that classify it as labelled",
    "confidence_in": "mean logit-scaled confidence in the label, models trained on it",
    "confidence_out": "mean logit-scaled confidence in the label, models that held it out",
    "planted": "whether a plant (label noise, duplicate) touched the example",
    "plant": "what was planted on it",
    "predicted_in": "the class models trained on the example predict for it (highest mean probability)",
    "predicted_out": "the class models that held it out predict for it: what the data alone suggests",
}
BASE_COLUMNS = frozenset(COLUMN_HELP)


def is_label_column(name: str) -> bool:
    return name in ("label", "original_label") or name.startswith("predicted_")


def extra_score_columns(scores) -> list[str]:
    """Numeric columns beyond the base set: proxies added by later estimators (curvature, …)."""
    import pandas as pd

    return [
        c
        for c in scores.columns
        if c not in BASE_COLUMNS
        and pd.api.types.is_numeric_dtype(scores[c])
        and not pd.api.types.is_bool_dtype(scores[c])
    ]


# --- thumbnails ----------------------------------------------------------------------------


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode (H, W) or (H, W, 3) uint8 pixels as a PNG file (no compression tricks, no Pillow)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    color_type = 0 if pixels.ndim == 2 else (2 if pixels.shape[2] == 3 else 6)
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + tag
            + body
            + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def image_pixels(row: np.ndarray, image_shape) -> np.ndarray | None:
    """One flattened example as displayable uint8 pixels, or None when it is not an image.

    Values in [0, 1] are shown as they are (0 white, 1 black, like ink on paper); anything else
    is rescaled to its own minimum and maximum.
    """
    shape = tuple(int(s) for s in image_shape)
    if int(np.prod(shape)) != row.size:
        return None
    img = np.asarray(row, dtype=np.float64).reshape(shape)
    if img.ndim == 3:  # (C, H, W)
        img = (
            img[0]
            if img.shape[0] == 1
            else np.moveaxis(img[:3] if img.shape[0] >= 3 else img[:1], 0, -1)
        )
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
    if img.ndim not in (2, 3):
        return None
    lo, hi = float(np.min(img)), float(np.max(img))
    if lo < 0 or hi > 1:
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    if img.ndim == 2:
        img = 1.0 - img  # grayscale: dark ink on a light page
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def thumbnail_uri(row: np.ndarray, image_shape) -> str | None:
    import base64

    pixels = image_pixels(row, image_shape)
    if pixels is None:
        return None
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")


def feature_excerpt(row: np.ndarray, n: int = 8) -> str:
    """The first feature values of a tabular example, as text."""
    head = ", ".join(f"{v:.3g}" for v in np.asarray(row[:n], dtype=np.float64))
    more = f", … ({row.size} features)" if row.size > n else ""
    return f"[{head}{more}]"


def text_excerpt(text: str, n: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# --- the table's data ----------------------------------------------------------------------


def _number(v: float) -> str:
    return "null" if not math.isfinite(v) else format(v, ".5g")


def column_kind(name: str, series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "label" if is_label_column(name) else "int"
    if pd.api.types.is_numeric_dtype(series):
        return "float"
    return "str"


def table_json(scores, classes, *, help: dict | None = None, extra: dict | None = None) -> str:
    """Every column of ``scores`` as JSON, ``{"n", "classes", "columns": [{name, kind, help, values}]}``.

    ``help`` adds or overrides column descriptions; ``extra`` adds top-level keys the script reads
    (``sort``: the column sorted first, descending; ``planted``: the bool column highlighted and
    toggled by the "only" checkbox).

    Floats keep 5 significant digits, NaN becomes null. The text is safe inside
    ``<script type="application/json">``: ``<``, ``>`` and ``&`` are written as ``\\u003c`` etc.,
    so no string from the data can close the script element.
    """
    parts = []
    for name in scores.columns:
        series = scores[name]
        kind = column_kind(name, series)
        if kind == "bool":
            values = (
                "["
                + ",".join("1" if v else "0" for v in series.fillna(False).astype(bool).tolist())
                + "]"
            )
        elif kind in ("int", "label"):
            values = "[" + ",".join(map(str, series.astype(np.int64).tolist())) + "]"
        elif kind == "float":
            values = "[" + ",".join(map(_number, series.astype(np.float64).tolist())) + "]"
        else:
            values = json.dumps(
                ["" if v is None or v != v else str(v) for v in series.tolist()], ensure_ascii=False
            )
        meta = {
            "name": str(name),
            "kind": kind,
            "help": {**COLUMN_HELP, **(help or {})}.get(name, "a score added by an estimator"),
        }
        parts.append(json.dumps(meta, ensure_ascii=False)[:-1] + ',"values":' + values + "}")
    head = json.dumps(
        {"n": len(scores), "classes": [str(c) for c in classes] if classes else None,
         **(extra or {})},
        ensure_ascii=False,
    )  # fmt: skip
    return script_safe(head[:-1] + ',"columns":[' + ",".join(parts) + "]}")


def script_safe(text: str) -> str:
    """Make JSON text safe to place inside a ``<script>`` element (it stays valid JSON)."""
    return (
        text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )  # fmt: skip
