"""The déjà vu test end to end: estimates from planted embeddings, a no-memorization control, the
trainer on the engine (a resumed run ends with the same arrays), the CLI and its report, bad input."""

import json

import numpy as np
import pytest

from cli_assertions import one_paragraph
from memlens.errors import MemlensError
from memlens.ssl.audit import at_fraction, dejavu_estimates, pair_rows
from memlens.ssl.canvas import PUBLIC, SHARED, A, B, make_canvas
from memlens.ssl.trainer import SSLTrainer, build_encoder, dejavu_design


def planted(rng, memorize_a: bool, n_attacked=150, n_public=300, dim=6):
    """Two 'encoders' over the example axis A, B, shared, public. Public rows sit in one cluster per
    class. Each encoder maps crops of the images it trained on next to their class's cluster when
    ``memorize_a`` (planted déjà vu) and everything else — crops it never saw — to noise."""
    part = np.repeat([A, B, SHARED, PUBLIC], [n_attacked, n_attacked, 20, n_public])
    labels = rng.integers(0, 10, len(part))
    centres = rng.normal(0, 4, (10, dim))
    emb = rng.normal(0, 3, (2, len(part), 1, dim))
    emb[:, part == PUBLIC, 0] = centres[labels[part == PUBLIC]] + rng.normal(0, 0.5, ((part == PUBLIC).sum(), dim))
    if memorize_a:
        for row, own in ((0, A), (1, B)):
            emb[row, part == own, 0] = centres[labels[part == own]] + rng.normal(0, 1.0, ((part == own).sum(), dim))
    membership = np.stack([np.isin(part, (A, SHARED)), np.isin(part, (B, SHARED))])
    return membership, part, labels, emb


def test_planted_dejavu_is_found_and_a_control_shows_no_gap_beyond_noise():
    rng = np.random.default_rng(0)
    membership, part, labels, emb = planted(rng, True)
    found = dejavu_estimates(membership, part, labels, {"projector": emb}, [5], k=10)
    snap = found["layers"]["projector"]["snapshots"][0]
    assert at_fraction(found, "projector", "target_accuracy", 0.2) > 0.9
    assert at_fraction(found, "projector", "reference_accuracy", 1.0) < 0.2
    assert at_fraction(found, "projector", "gap", 0.2) > 0.6
    assert snap["partition"]["memorized"] > 0.5 > snap["partition"]["misrepresented"]
    assert sum(snap["partition_counts"].values()) == 300
    assert snap["public_accuracy"] > 0.9  # the 'encoders' represent the objects of whole canvases
    # control: neither encoder saw anything it could recall — gap within noise of zero, memorized ≈ misrepresented
    membership, part, labels, emb = planted(np.random.default_rng(1), False)
    control = dejavu_estimates(membership, part, labels, {"projector": emb}, [5], k=10)
    se = np.sqrt(2 * 0.1 * 0.9 / 300)  # binomial s.e. of an accuracy difference at chance over 2×150 crops
    assert abs(at_fraction(control, "projector", "gap", 1.0)) < 4 * se
    p = control["layers"]["projector"]["snapshots"][0]["partition"]
    assert abs(p["memorized"] - p["misrepresented"]) < 4 * se
    # the pair's orientation is read from the mask, not assumed
    assert pair_rows(membership[::-1], part) == [(1, 0)]
    with pytest.raises(MemlensError, match="not a target/reference pair"):
        pair_rows(np.stack([membership[0], membership[0]]), part)


def test_untrained_encoders_show_no_gap_on_real_canvases(one_torch_thread):
    import torch

    canvas = make_canvas(n_target=150, n_shared=0, n_public=300, seed=1)
    inputs = torch.from_numpy(canvas.attack_inputs())
    stacks = {"projector": [], "backbone": []}
    for seed in (0, 1):
        torch.manual_seed(seed)
        backbone, projector = build_encoder(16, 24)
        b, p = SSLTrainer.embed(backbone, projector, inputs)
        stacks["backbone"].append(b[:, None])
        stacks["projector"].append(p[:, None])
    design = dejavu_design(canvas, 1)
    result = dejavu_estimates(design.membership, canvas.part, canvas.labels,
                              {k: np.stack(v) for k, v in stacks.items()}, [0], k=20)
    se = np.sqrt(2 * 0.1 * 0.9 / 300)
    for layer in ("projector", "backbone"):
        assert abs(at_fraction(result, layer, "gap", 1.0)) < 4 * se
        assert at_fraction(result, layer, "reference_accuracy", 1.0) < 0.1 + 4 * np.sqrt(0.09 / 300)


class DiesOnSecondShard(SSLTrainer):
    """The same trainer (same config) that fails after its first shard, as a killed run would."""

    calls = 0

    def fit_observe(self, data, membership, seeds, progress=None):
        DiesOnSecondShard.calls += 1
        if DiesOnSecondShard.calls == 2:
            raise KeyboardInterrupt
        return super().fit_observe(data, membership, seeds, progress)


def test_trainer_on_the_engine_resumes_to_the_same_arrays(tmp_path, one_torch_thread):
    from memlens.engine import run_design
    from memlens.store import RunStore

    canvas = make_canvas(n_target=16, n_shared=4, n_public=40, seed=2)
    design = dejavu_design(canvas, 1)
    kwargs = {"epochs": 2, "snapshots": [1, 2], "batch_size": 8, "channels": 4, "backbone_dim": 8, "projector_dim": 8}
    whole = run_design(canvas, design, SSLTrainer(**kwargs), tmp_path / "whole", progress=False, shard_size=1)
    with pytest.raises(KeyboardInterrupt):
        run_design(canvas, design, DiesOnSecondShard(**kwargs), tmp_path / "resumed", progress=False, shard_size=1)
    resumed = run_design(canvas, design, SSLTrainer(**kwargs), tmp_path / "resumed", progress=False, shard_size=1)
    for name in ("embedding_projector", "embedding_backbone"):
        a, b = whole.observation(name), RunStore.open(tmp_path / "resumed").observation(name)
        assert a.shape == (2, canvas.n_examples, 2, 8) and a.dtype == np.float16
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a[:, :, 0], a[:, :, 1])  # the snapshots differ: training moved the encoder
    del resumed
    # a model may not train on the public set
    bad = design.membership.copy()
    bad[0, canvas.part == PUBLIC] = True
    with pytest.raises(MemlensError, match="public set"):
        SSLTrainer(**kwargs).fit_observe(canvas, bad[:1], [np.random.SeedSequence(0)])


def test_cli_trains_reports_and_report_regenerates(run_cli, tmp_path, one_torch_thread):
    out = tmp_path / "dv"
    args = ("ssl", "dejavu", "--out", out, "--epochs", "2", "--snapshots", "1,2", "--set-size", "20", "--shared", "4",
            "--public", "40", "--k", "5", "--batch-size", "16", "--no-progress")
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    result = json.loads((out / "dejavu.json").read_text())
    assert result["kind"] == "dejavu" and result["snapshots"] == [1, 2] and result["models"] == 2
    assert set(result["criteria"]) == {"a_reference_near_chance", "b_gap_top20", "c_gap_grows", "d_backbone_smaller"}
    assert "(b) target − reference" in stdout and "report:" in stdout
    page = (out / "report.html").read_text()
    gap = at_fraction(result, "projector", "gap", 0.2)
    assert f"{gap * 100:+.1f} points" in page and "Sample-level partition" in page
    (out / "report.html").unlink()
    code, stdout, err = run_cli("report", out)
    assert code == 0, err and (out / "report.html").is_file()
    code, _, err = run_cli("report", out, "--rescore")
    assert code == 2
    one_paragraph(err, "memlens ssl dejavu")
    code, _, err = run_cli(*args)  # the same command again: nothing retrained, same estimates
    assert code == 0, err
    assert json.loads((out / "dejavu.json").read_text())["layers"] == result["layers"]


@pytest.mark.parametrize(("extra", "needle"), [
    (("--models", "1"), "even number of at least 2"),
    (("--models", "3"), "even number of at least 2"),
    (("--objective", "byol"), "vicreg, simclr"),
    (("--canvas", "16x12"), "too small"),
    (("--min-crop-side", "16"), "too small"),
    (("--canvas", "big"), "HEIGHTxWIDTH"),
    (("--snapshots", "5,7"), "last is --epochs"),
    (("--k", "500"), "public set's size"),
    (("--lr", "0"), "--lr"),
    (("--background-swap", "1.5"), "--background-swap"),
])  # fmt: skip
def test_cli_refuses_bad_input_before_writing(run_cli, tmp_path, extra, needle):
    out = tmp_path / "bad"
    code, _, err = run_cli("ssl", "dejavu", "--out", out, "--public", "50", "--set-size", "5", "--epochs", "10",
                           "--no-progress", *extra)
    assert code == 2
    one_paragraph(err, needle)
    assert not out.exists()
