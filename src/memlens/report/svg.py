"""Small hand-written SVG charts for the report: axes, ticks, lines, dots, bars and legends as text.

matplotlib took most of ``memlens report``'s time (its import and four PNG renders); the
classification page's plots need only a few primitives, written here as plain SVG markup. A
:class:`Panel` maps data to pixels through two :class:`Scale` s (linear or log10) and collects
elements; :func:`document` lays panels into one ``<svg>``; :func:`data_uri` makes it an ``<img>``
source. Output is deterministic (coordinates rounded to 0.1 px, no ids beyond fixed ones, no
dates), every string is XML-escaped with characters XML cannot hold dropped, and NaN or infinite
values are left out of whatever they would have drawn.

Example:
    >>> panel = Panel(Scale(0, 10), Scale(0, 1), left=50, top=10, width=500, height=300)
    >>> float(panel.px(5)), float(panel.py(1))
    (300.0, 10.0)
    >>> panel.line([0, 10], [0, 1], color="#4c72b0", label="rising")
    >>> document(600, 360, [panel]).startswith("<svg")
    True
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field

import numpy as np

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
INK = "#2d3748"
AXIS = "#a0aec0"
GRID = "#e2e8f0"
DASHES = {"-": None, "--": "6 3", ":": "1.5 2.5", "-.": "6 2.5 1.5 2.5"}
CHAR_WIDTH = 0.58  # average glyph width of a sans-serif font, in ems: enough to lay out labels
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def escape(text) -> str:
    """``text`` as XML character data or attribute value: markup escaped, characters XML 1.0
    cannot hold (control characters, lone surrogates) dropped, so the SVG always parses."""
    text = _NOT_XML.sub("", str(text))
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&quot;").replace("'", "&#39;")
    )  # fmt: skip


def text_width(text: str, size: float) -> float:
    """Estimated width in pixels of ``text`` at font ``size`` (for layout; no font metrics)."""
    return len(str(text)) * size * CHAR_WIDTH


def _n(v: float) -> str:
    """A coordinate as compact, deterministic text (0.1 px)."""
    s = f"{v:.1f}"
    s = s[:-2] if s.endswith(".0") else s
    return "0" if s == "-0" else s


def _minus(s: str) -> str:
    return s.replace("-", "−")


@dataclass
class Scale:
    """An axis's data range, linear or log10, mapped onto [0, 1].

    Non-finite or empty ranges become (0, 1) (log: (0.1, 1)), so a chart of nothing still draws.
    """

    lo: float
    hi: float
    log: bool = False

    def __post_init__(self):
        lo, hi = float(self.lo), float(self.hi)
        if self.log:
            lo = lo if math.isfinite(lo) and lo > 0 else 0.1
            hi = hi if math.isfinite(hi) and hi > lo else lo * 10
        else:
            lo = lo if math.isfinite(lo) else 0.0
            hi = hi if math.isfinite(hi) else lo + 1.0
            if hi <= lo:
                lo, hi = lo - 0.5, lo + 0.5
        self.lo, self.hi = lo, hi

    def fraction(self, values) -> np.ndarray:
        """Where ``values`` sit between ``lo`` (0) and ``hi`` (1); NaN where log of a value ≤ 0."""
        v = np.asarray(values, dtype=np.float64)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.log10(np.where(v > 0, v, np.nan)) - math.log10(self.lo)) / math.log10(self.hi / self.lo)
        return (v - self.lo) / (self.hi - self.lo)

    def ticks(self, target: int = 6) -> list[tuple[float, str]]:
        """About ``target`` (value, label) ticks inside the range: 1-2-2.5-5 steps, or powers of ten."""
        if self.log:
            first, last = math.ceil(math.log10(self.lo) - 1e-9), math.floor(math.log10(self.hi) + 1e-9)
            powers = list(range(first, last + 1))
            if len(powers) > target:  # a wide range: every k-th power
                k = math.ceil(len(powers) / target)
                powers = [p for p in powers if p % k == 0]
            if len(powers) >= 2:
                return [(10.0**p, _power_label(p)) for p in powers]
            values = [m * 10.0**e for e in range(first - 1, last + 2) for m in (1, 2, 5)]
            return [(v, _plain_label(v)) for v in values if self.lo * (1 - 1e-9) <= v <= self.hi * (1 + 1e-9)]
        raw = (self.hi - self.lo) / max(target, 1)
        power = 10.0 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
        decimals = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if step / power == 2.5 else 0)
        start = math.ceil(self.lo / step - 1e-9)
        values = [(start + i) * step for i in range(int((self.hi - self.lo) / step + 1e-9) + 2)]
        return [(v, _minus(f"{v:.{decimals}f}")) for v in values if v <= self.hi + step * 1e-9]


def _power_label(p: int) -> str:
    return "1" if p == 0 else "10" if p == 1 else "10" + str(p).translate(_SUPERSCRIPT)


def _plain_label(v: float) -> str:
    return _minus(f"{v:g}")


@dataclass
class Panel:
    """One plot area at (``left``, ``top``) of ``width`` × ``height`` pixels, with its axes.

    Data methods take data coordinates; :meth:`px` and :meth:`py` map them to pixels (y grows
    downwards in SVG, so ``y.hi`` is at ``top``). ``xticks``/``yticks`` replace the automatic
    ticks with (value, label) pairs; ``grid_x``/``grid_y`` draw the light grid lines at them.
    """

    x: Scale
    y: Scale
    left: float
    top: float
    width: float
    height: float
    xlabel: str = ""
    ylabel: str = ""
    title: str = ""
    xticks: list | None = None
    yticks: list | None = None
    grid_x: bool = True
    grid_y: bool = True
    font: float = 11.0
    _body: list = field(default_factory=list, repr=False)
    _legend: list = field(default_factory=list, repr=False)
    _legend_loc: str | None = field(default=None, repr=False)
    _points: list = field(default_factory=list, repr=False)  # pixel positions of data, for legend "best"
    _extra: list = field(default_factory=list, repr=False)  # text drawn outside the clip

    def px(self, values) -> np.ndarray:
        return self.left + self.x.fraction(values) * self.width

    def py(self, values) -> np.ndarray:
        return self.top + (1 - self.y.fraction(values)) * self.height

    # --- data ----------------------------------------------------------------------------------

    def line(self, x, y, *, color: str, width: float = 1.8, dash: str = "-", steps: bool = False,
             markers: float = 0.0, label: str | None = None, opacity: float = 1.0) -> None:  # fmt: skip
        """A polyline through (x, y), broken at non-finite points; ``steps``: horizontal first
        (matplotlib's ``steps-post``); ``markers``: dots of that radius at the vertices."""
        xs, ys = self.px(x), self.py(y)
        ok = np.isfinite(xs) & np.isfinite(ys)
        parts, pen_down = [], False
        for xi, yi, good in zip(xs, ys, ok, strict=True):
            if not good:
                pen_down = False
                continue
            if not pen_down:
                parts.append(f"M{_n(xi)} {_n(yi)}")
            elif steps:
                parts.append(f"H{_n(xi)}V{_n(yi)}")
            else:
                parts.append(f"L{_n(xi)} {_n(yi)}")
            pen_down = True
        if parts:
            self._body.append(f'<path d="{"".join(parts)}" fill="none" stroke="{color}" stroke-width="{width:g}"'
                              f'{_dash(dash)}{_opacity("stroke-opacity", opacity)} stroke-linejoin="round"/>')  # fmt: skip
            self._points.append(np.column_stack([xs[ok], ys[ok]]))
        if markers and ok.any():
            self._body.append(_dot_path(xs[ok], ys[ok], color, markers, opacity))
        if label is not None:
            self._legend.append(("line", label, color, dash, markers))

    def dots(self, x, y, *, color: str, radius: float = 2.0, opacity: float = 1.0, label: str | None = None) -> None:
        """A scatter of round dots. Dots that land on the same 0.5-px cell are drawn once, darker by
        how many they are (as that many translucent dots stacked would be), so 60,000 examples
        make a page of kilobytes, not megabytes."""
        xs, ys = self.px(x), self.py(y)
        ok = np.isfinite(xs) & np.isfinite(ys)
        xs, ys = xs[ok], ys[ok]
        if xs.size:
            cells, counts = np.unique(np.column_stack([np.round(xs * 2), np.round(ys * 2)]), axis=0, return_counts=True)
            stack = np.minimum(counts, 8)  # 8 stacked dots at any opacity look opaque enough
            for k in np.unique(stack):
                pick = cells[stack == k] / 2
                self._body.append(_dot_path(pick[:, 0], pick[:, 1], color, radius, 1 - (1 - opacity) ** int(k)))
            self._points.append(np.column_stack([xs, ys]))
        if label is not None:
            self._legend.append(("dot", label, color, None, radius))

    def bars(self, edges, counts, *, color: str, opacity: float = 1.0, label: str | None = None) -> None:
        """A histogram's filled bars: bin ``i`` spans ``edges[i]``–``edges[i+1]`` and rises from the
        bottom of the axis to ``counts[i]`` (bins with no count, or ≤ 0 on a log axis, are left out)."""
        e, c = np.asarray(edges, dtype=np.float64), np.asarray(counts, dtype=np.float64)
        x0, x1, top = self.px(e[:-1]), self.px(e[1:]), self.py(c)
        bottom = self.top + self.height
        ok = np.isfinite(x0) & np.isfinite(x1) & np.isfinite(top) & (c > 0)
        d = "".join(f"M{_n(a)} {_n(bottom)}V{_n(t)}H{_n(b)}V{_n(bottom)}Z" for a, b, t in zip(x0[ok], x1[ok], top[ok], strict=True))
        if d:
            self._body.append(f'<path d="{d}" fill="{color}"{_opacity("fill-opacity", opacity)}/>')
            self._points.append(np.column_stack([(x0[ok] + x1[ok]) / 2, top[ok]]))
        if label is not None:
            self._legend.append(("patch", label, color, None, opacity))

    def outline(self, edges, counts, *, color: str, width: float = 2.0, label: str | None = None) -> None:
        """A histogram drawn as its outline only (matplotlib's ``histtype="step"``)."""
        e, c = np.asarray(edges, dtype=np.float64), np.asarray(counts, dtype=np.float64)
        bottom = self.y.lo if self.y.log else min(self.y.lo, 0.0)
        heights = np.where(np.isfinite(c) & (c > 0), c, bottom)
        x = np.repeat(e, 2)[1:-1]
        y = np.repeat(heights, 2)
        xs, ys = self.px(np.r_[x[0], x, x[-1]]), self.py(np.r_[bottom, y, bottom])
        ys = np.where(np.isfinite(ys), ys, self.top + self.height)
        self._body.append(f'<path d="M{" L".join(f"{_n(a)} {_n(b)}" for a, b in zip(xs, ys, strict=True))}" fill="none" '
                          f'stroke="{color}" stroke-width="{width:g}" stroke-linejoin="miter"/>')  # fmt: skip
        self._points.append(np.column_stack([xs, ys]))
        if label is not None:
            self._legend.append(("outline", label, color, None, width))

    def hbars(self, positions, values, errors=None, *, color: str, opacity: float = 1.0, thickness: float = 0.8,
              error_color: str = INK) -> None:  # fmt: skip
        """Horizontal bars from 0 to ``values`` at y ``positions`` (``thickness`` in y units), with
        ± ``errors`` whiskers."""
        p, v = np.asarray(positions, dtype=np.float64), np.asarray(values, dtype=np.float64)
        zero, tips = self.px(np.zeros_like(v)), self.px(v)
        y0, y1 = self.py(p - thickness / 2), self.py(p + thickness / 2)
        ok = np.isfinite(tips) & np.isfinite(y0)
        d = "".join(f"M{_n(z)} {_n(a)}H{_n(t)}V{_n(b)}H{_n(z)}Z" for z, t, a, b in
                    zip(zero[ok], tips[ok], y0[ok], y1[ok], strict=True))  # fmt: skip
        if d:
            self._body.append(f'<path d="{d}" fill="{color}"{_opacity("fill-opacity", opacity)}/>')
        if errors is not None:
            err = np.asarray(errors, dtype=np.float64)
            lo, hi, mid = self.px(v - err), self.px(v + err), self.py(p)
            cap = 2.0
            good = ok & np.isfinite(lo) & np.isfinite(hi) & (err > 0)
            d = "".join(f"M{_n(a)} {_n(m)}H{_n(b)}M{_n(a)} {_n(m - cap)}V{_n(m + cap)}M{_n(b)} {_n(m - cap)}V{_n(m + cap)}"
                        for a, b, m in zip(lo[good], hi[good], mid[good], strict=True))  # fmt: skip
            if d:
                self._body.append(f'<path d="{d}" fill="none" stroke="{error_color}" stroke-width="0.8"/>')

    def vline(self, x: float, *, color: str, dash: str = "-", width: float = 1.2, label: str | None = None) -> None:
        """A vertical line across the panel at data ``x`` (left out when off the axis)."""
        p = float(self.px(x))
        if math.isfinite(p) and self.left - 0.5 <= p <= self.left + self.width + 0.5:
            self._body.append(f'<path d="M{_n(p)} {_n(self.top)}V{_n(self.top + self.height)}" stroke="{color}" '
                              f'stroke-width="{width:g}"{_dash(dash)}/>')  # fmt: skip
        if label is not None:
            self._legend.append(("line", label, color, dash, 0.0))

    def hline(self, y: float, *, color: str, dash: str = "-", width: float = 1.2, label: str | None = None) -> None:
        """A horizontal line across the panel at data ``y`` (left out when off the axis)."""
        p = float(self.py(y))
        if math.isfinite(p) and self.top - 0.5 <= p <= self.top + self.height + 0.5:
            self._body.append(f'<path d="M{_n(self.left)} {_n(p)}H{_n(self.left + self.width)}" stroke="{color}" '
                              f'stroke-width="{width:g}"{_dash(dash)}/>')  # fmt: skip
        if label is not None:
            self._legend.append(("line", label, color, dash, 0.0))

    def text(self, x: float, y: float, s: str, *, size: float = 9.0, color: str = "#718096",
             anchor: str = "start") -> None:  # fmt: skip
        """``s`` at data (x, y), vertically centred there; may reach past the plot area."""
        px, py = float(self.px(x)), float(self.py(y))
        if math.isfinite(px) and math.isfinite(py):
            self._extra.append(_text(px, py + size * 0.35, s, size=size, color=color, anchor=anchor))

    def legend(self, loc: str = "upper right") -> None:
        """Show the labelled elements in a corner: ``upper right``, ``upper left``, ``lower right``,
        ``lower left`` or ``best`` (the corner covering the fewest data points)."""
        self._legend_loc = loc

    # --- output --------------------------------------------------------------------------------

    def render(self, clip_id: str) -> str:
        """The panel as SVG elements: grid, data (clipped to the plot area), axes, ticks, labels, legend."""
        f = self.font
        right, bottom = self.left + self.width, self.top + self.height
        out = [f'<clipPath id="{clip_id}"><rect x="{_n(self.left)}" y="{_n(self.top)}" width="{_n(self.width)}" '
               f'height="{_n(self.height)}"/></clipPath>']  # fmt: skip
        xticks = self.xticks if self.xticks is not None else self.x.ticks()
        yticks = self.yticks if self.yticks is not None else self.y.ticks(5)
        xt = [(float(self.px(v)), label) for v, label in xticks]
        yt = [(float(self.py(v)), label) for v, label in yticks]
        xt = [(p, s) for p, s in xt if math.isfinite(p) and self.left - 0.5 <= p <= right + 0.5]
        yt = [(p, s) for p, s in yt if math.isfinite(p) and self.top - 0.5 <= p <= bottom + 0.5]
        grid = "".join(
            [f"M{_n(p)} {_n(self.top)}V{_n(bottom)}" for p, _ in xt if self.grid_x]
            + [f"M{_n(self.left)} {_n(p)}H{_n(right)}" for p, _ in yt if self.grid_y]
        )
        if grid:
            out.append(f'<path d="{grid}" stroke="{GRID}" stroke-width="0.8"/>')
        out.append(f'<g clip-path="url(#{clip_id})">{"".join(self._body)}</g>')
        ticks = "".join([f"M{_n(p)} {_n(bottom)}v4" for p, _ in xt] + [f"M{_n(self.left)} {_n(p)}h-4" for p, _ in yt])
        out.append(f'<path d="M{_n(self.left)} {_n(self.top)}V{_n(bottom)}H{_n(right)}{ticks}" fill="none" '
                   f'stroke="{AXIS}" stroke-width="1"/>')  # fmt: skip
        out += [_text(p, bottom + 6 + f * 0.85, s, size=f * 0.85, anchor="middle") for p, s in xt]
        out += [_text(self.left - 7, p + f * 0.3, s, size=f * 0.85, anchor="end") for p, s in yt]
        if self.xlabel:
            out.append(_text(self.left + self.width / 2, bottom + 12 + f * 1.9, self.xlabel, size=f, anchor="middle"))
        if self.ylabel:
            widest = max((text_width(s, f * 0.85) for _, s in yt), default=0.0)
            x = self.left - 12 - widest - f * 0.4
            out.append(_text(x, self.top + self.height / 2, self.ylabel, size=f, anchor="middle", rotate=True))
        if self.title:
            out.append(_text(self.left + self.width / 2, self.top - 8, self.title, size=f * 0.9, anchor="middle"))
        out += self._extra
        if self._legend_loc and self._legend:
            out.append(self._render_legend())
        return "".join(out)

    def _render_legend(self) -> str:
        size, row, sample = self.font * 0.78, self.font * 1.45, 22.0
        width = 8 + sample + 6 + max(text_width(e[1], size) for e in self._legend) + 6
        height = 6 + row * len(self._legend)
        loc = self._legend_loc if self._legend_loc != "best" else self._best_corner(width, height)
        x = self.left + 6 if "left" in loc else self.left + self.width - width - 4
        y = self.top + 4 if "upper" in loc else self.top + self.height - height - 4
        out = [f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" height="{_n(height)}" fill="#ffffff" '
               'fill-opacity="0.8" rx="3"/>']  # fmt: skip
        for i, (kind, label, color, dash, extra) in enumerate(self._legend):
            cy = y + 3 + row * (i + 0.5)
            sx = x + 8
            if kind == "line":
                out.append(f'<path d="M{_n(sx)} {_n(cy)}h{_n(sample)}" stroke="{color}" stroke-width="1.8"{_dash(dash)}/>')
                if extra:
                    out.append(_dot_path(np.array([sx + sample / 2]), np.array([cy]), color, extra, 1.0))
            elif kind == "dot":
                out.append(_dot_path(np.array([sx + sample / 2]), np.array([cy]), color, max(extra, 3.0), 1.0))
            elif kind == "outline":
                out.append(f'<rect x="{_n(sx + 4)}" y="{_n(cy - 5)}" width="{_n(sample - 8)}" height="10" fill="none" '
                           f'stroke="{color}" stroke-width="{extra:g}"/>')  # fmt: skip
            else:
                out.append(f'<rect x="{_n(sx + 4)}" y="{_n(cy - 5)}" width="{_n(sample - 8)}" height="10" '
                           f'fill="{color}"{_opacity("fill-opacity", extra)}/>')  # fmt: skip
            out.append(_text(sx + sample + 6, cy + size * 0.35, label, size=size, color=INK))
        return "".join(out)

    def _best_corner(self, width: float, height: float) -> str:
        points = np.concatenate(self._points) if self._points else np.zeros((0, 2))
        best, fewest = "upper right", None
        for loc in ("upper right", "upper left", "lower left", "lower right"):
            x0 = self.left if "left" in loc else self.left + self.width - width
            y0 = self.top if "upper" in loc else self.top + self.height - height
            inside = int(((points[:, 0] >= x0) & (points[:, 0] <= x0 + width)
                          & (points[:, 1] >= y0) & (points[:, 1] <= y0 + height)).sum())  # fmt: skip
            if fewest is None or inside < fewest:
                best, fewest = loc, inside
        return best


def _dash(style: str | None) -> str:
    pattern = DASHES.get(style or "-", style)
    return f' stroke-dasharray="{pattern}"' if pattern else ""


def _opacity(attribute: str, value: float) -> str:
    return f' {attribute}="{value:.3g}"' if value < 1 else ""


def _dot_path(xs, ys, color: str, radius: float, opacity: float) -> str:
    """Round dots as zero-length segments with round caps: ~12 bytes a dot."""
    d = "".join(f"M{_n(a)} {_n(b)}h0" for a, b in zip(xs, ys, strict=True))
    return (f'<path d="{d}" stroke="{color}" stroke-width="{_n(2 * radius)}" stroke-linecap="round"'
            f'{_opacity("stroke-opacity", opacity)}/>')  # fmt: skip


def _text(x: float, y: float, s: str, *, size: float, color: str = INK, anchor: str = "start",
          rotate: bool = False) -> str:  # fmt: skip
    turn = f' transform="rotate(-90 {_n(x)} {_n(y)})"' if rotate else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size:.3g}" fill="{color}" text-anchor="{anchor}"{turn}>'
            f"{escape(s)}</text>")  # fmt: skip


def document(width: float, height: float, panels, *, title: str = "") -> str:
    """One standalone ``<svg>`` of ``width`` × ``height`` pixels holding ``panels``."""
    body = "".join(p.render(f"plot{i}") for i, p in enumerate(panels))
    label = f"<title>{escape(title)}</title>" if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
            f'viewBox="0 0 {_n(width)} {_n(height)}" font-family="{FONT}">{label}'
            f'<rect width="100%" height="100%" fill="#ffffff"/>{body}</svg>')  # fmt: skip


def data_uri(svg: str) -> str:
    """``svg`` as a ``data:image/svg+xml`` URI for an ``<img>`` (isolated from the page's styles)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8", "replace")).decode("ascii")
