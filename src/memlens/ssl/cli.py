"""``memlens ssl …``: self-supervised encoders — the déjà vu test of Meehan et al. (NeurIPS 2023).

Kept light at import (no torch, no scikit-learn): the main ``memlens`` app imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from memlens.errors import MemlensError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

OBJECTIVES = ("vicreg", "simclr")  # memlens.ssl.objectives.OBJECTIVES, without importing torch here


def parse_canvas(text: str) -> tuple[int, int]:
    """--canvas HxW as (height, width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise MemlensError(f"--canvas must be HEIGHTxWIDTH in pixels, such as 16x24; got {text!r}.") from None
    return h, w


def parse_snapshots(text: str | None) -> list[int] | None:
    """--snapshots as a list of whole epochs (None: the trainer's default)."""
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise MemlensError(f"--snapshots must be comma-separated whole epochs, such as 50,100,200,400; got "
                           f"{text!r}.") from None


@app.command()
def dejavu(
    out: Annotated[Path, typer.Option(help="Run directory (created, or resumed when it holds the same configuration).")],
    objective: Annotated[str, typer.Option(help="Self-supervised objective: vicreg (Bardes et al., coefficients 25/25/1) or simclr (NT-Xent, temperature 0.5); everything else is shared.")] = "vicreg",
    epochs: Annotated[int, typer.Option(help="Passes over each encoder's training set (A ∪ shared or B ∪ shared). Déjà vu grows with training.")] = 400,
    models: Annotated[int, typer.Option(help="Encoders to train: an even number ≥ 2, one target (A ∪ shared) and one reference (B ∪ shared) per pair; pairs differ in their seeds and the estimates are averaged over them.")] = 2,
    snapshots: Annotated[str | None, typer.Option(help="Comma-separated epochs at which every canvas is embedded, the last = --epochs (default: about 1/6, 1/3, 2/3 and all of --epochs). The gap is reported at each.", show_default=False)] = None,
    set_size: Annotated[int, typer.Option(help="Canvases in A, and as many in B: the attacked sets. Smaller sets are memorized sooner.")] = 200,
    shared: Annotated[int, typer.Option(help="Canvases both encoders of a pair train on.")] = 100,
    public: Annotated[int, typer.Option(help="Labelled public canvases the labels are decoded from (k-NN).")] = 3000,
    k: Annotated[int, typer.Option(help="Public neighbours per background crop (the paper uses 100 on ImageNet).")] = 20,
    canvas: Annotated[str, typer.Option(help="Canvas HEIGHTxWIDTH; the 8×8 digit sits in the left 8 columns at a random height, the background crop is the rest.")] = "16x24",
    min_crop_side: Annotated[int, typer.Option(help="The background crop's shorter side must exceed this many pixels (Meehan et al.: 100 on ImageNet).")] = 8,
    background_swap: Annotated[float, typer.Option(help="Share of training views that are object views: the canvas's digit pasted on another training canvas's background, uncropped (the rest are in-place crops of the canvas itself, 30–70% of it, which may hold background only). Object views make encoders represent digits, as natural-image SSL learns objects; 0 turns them off.")] = 0.5,
    batch_size: Annotated[int, typer.Option(help="Canvases per step (two augmented views each).")] = 128,
    lr: Annotated[float, typer.Option(help="Adam's learning rate.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seeds the canvases (stream ssl:canvas) and each encoder (stream models).")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
) -> None:
    """The déjà vu test: does an SSL encoder reveal the object of its own training images from their background alone?

    Draws synthetic canvases (an 8×8 digit beside a random background independent of the label),
    in disjoint sets A and B, a shared set and a labelled public set; trains target encoders on A ∪
    shared and reference encoders on B ∪ shared (small CNN + MLP projector, --objective) on the
    engine, embedding every canvas at several epochs; then decodes each A and B canvas's label from
    its background-only crop by its k nearest public neighbours with both encoders (confidence =
    −entropy of the neighbours' labels). Reported, symmetrized A↔B and averaged over pairs, per
    layer (projector; backbone = the "guillotine" variant) and epoch: target and reference accuracy
    on the p% most confident crops and their gap, and the share of crops only the target decodes
    (memorized), both decode (correlated), only the reference decodes (misrepresented) or neither.
    Writes OUT/dejavu.json through the run's store and OUT/report.html; a killed run resumes with
    the same command, and `memlens report OUT` rewrites the page.
    """
    from rich.console import Console
    from rich.markup import escape

    from memlens.report.ssl_section import write_ssl_report

    from .audit import criteria_words, dejavu_audit
    from .canvas import make_canvas
    from .trainer import SSLTrainer

    if objective not in OBJECTIVES:
        raise MemlensError(f"Unknown --objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    if isinstance(models, bool) or models < 2 or models % 2:
        raise MemlensError(f"--models must be an even number of at least 2 (one target and one reference encoder per "
                           f"pair); got {models}.")
    if seed < 0:
        raise MemlensError(f"--seed must be a whole number >= 0; got {seed}.")
    height, width = parse_canvas(canvas)
    trainer = SSLTrainer(objective, epochs=epochs, snapshots=parse_snapshots(snapshots), batch_size=batch_size, lr=lr,
                         background_swap=background_swap)
    data = make_canvas(n_target=set_size, n_shared=shared, n_public=public, height=height, width=width,
                       min_crop_side=min_crop_side, seed=seed)
    result = dejavu_audit(data, trainer, out, pairs=models // 2, seed=seed, k=k, progress=progress)
    page = write_ssl_report(out)
    console = Console(emoji=False, highlight=False)
    for line in criteria_words(result):
        console.print(escape(line), soft_wrap=True)
    console.print(f"report: [bold]{escape(str(page))}[/]; dejavu.json beside it")
