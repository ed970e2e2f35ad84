"""Scale on paper: what a full-size audit would cost, projected from per-shard costs measured here.

Two audits users ask about: (a) Feldman–Zhang memorization on CIFAR-100-size data (50,000 32×32×3
training images, 10,000 test) with 2,000 ResNet-18s, each on a random 70% subset; (b) LiRA with
256 shadow models of a 125M-parameter language model (GPT-2 small, ``GPT2Config()``). For each,
on N = 1, 8 and 64 nodes of a Ray cluster of CPU nodes and of GPU nodes: wall time and cost.

Measured on this machine (best of a few steps, after a warm-up):

* a ResNet-18 training step (torchvision's ``resnet18(num_classes=100)`` layout with the usual
  CIFAR stem: a 3×3 convolution, no max-pool; defined here, torchvision is not a dependency) at
  batch 128, float32 and bfloat16 autocast, and its forward throughput (observation);
* a GPT-2 small training step (AdamW) on 2 × 256 tokens, float32 and bfloat16, and its forward;
* memlens's own per-shard cost: ``RunStore.write_shard`` of 16 models' observations of the size
  the ensemble writes (correct, loss, confidence float32; probabilities float16; the test arrays),
  and ``finalize`` merging two such shards; a Ray task's dispatch and the return of one shard's
  observations through the local object store (skipped with ``--no-ray``).

Derived, not measured (no GPU here): GPU time from FLOPs — 6·N·D for the LM, ~0.56 GFLOP per
forward image for a CIFAR ResNet-18 and 3× that to train — at a stated fraction (model FLOPs
utilization, MFU) of a named GPU's published dense bf16 peak; prices are stated assumptions.
Everything assumed is a command-line option, printed with the arithmetic.

    python bench/scale_on_paper.py [--epochs 100] [--lm-tokens 1e8] [--gpu h100] [--no-ray]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time

# as the memlens CLI does (memlens.cli.share_cores_politely): idle OpenMP threads sleep, so a
# machine shared with other work slows these timings down by its share, not 10x; set before torch loads
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

GPUS = {  # published dense bf16 peak (no sparsity), and an assumed on-demand price per GPU-hour
    "h100": ("NVIDIA H100 SXM", 989e12, 3.00),
    "a100": ("NVIDIA A100 SXM 80GB", 312e12, 1.50),
}
RESNET18_CIFAR_FORWARD_FLOP = 0.56e9  # per 32×32 image (multiply-add = 2 FLOP)
GIB = 2**30


# --- the models --------------------------------------------------------------------------------


class _Block(nn.Module):
    """torchvision's BasicBlock: two 3×3 convolutions with batch norm, and a projected shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet18_cifar(num_classes: int = 100) -> nn.Module:
    """ResNet-18 ([2, 2, 2, 2] basic blocks, 64–512 channels) with the CIFAR stem: 3×3 conv, no max-pool."""
    layers, cin = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def _best(step, repeats: int) -> float:
    step()  # warm-up: allocations, kernel selection
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t)
    return best


def _time_both_precisions(model, opt, loss, forward, repeats: int) -> tuple[dict, dict]:
    """Best seconds of one optimizer step on ``loss()`` and of one ``forward()``, float32 and bf16 autocast."""
    steps, forwards = {}, {}
    for name, bf16 in (("fp32", False), ("bf16", True)):

        def step(bf16=bf16):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                value = loss()
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()

        steps[name] = _best(step, repeats)
    model.eval()
    for name, bf16 in (("fp32", False), ("bf16", True)):

        def forward_only(bf16=bf16):
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                forward()

        forwards[name] = _best(forward_only, repeats)
    return steps, forwards


def measure_resnet(repeats: int) -> dict:
    """Seconds per batch-128 SGD step (fp32, bf16 autocast) and forward images/s of a CIFAR ResNet-18."""
    torch.manual_seed(0)
    model = resnet18_cifar(100)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 100, (128,))
    steps, forwards = _time_both_precisions(model, opt, lambda: nn.functional.cross_entropy(model(x), y),
                                            lambda: model(x), repeats)  # fmt: skip
    return {"parameters": sum(p.numel() for p in model.parameters()),
            **{f"train_step_{k}": v for k, v in steps.items()},
            **{f"forward_images_per_s_{k}": 128 / v for k, v in forwards.items()}}  # fmt: skip


def measure_gpt2(repeats: int, batch: int = 2, seq: int = 256) -> dict:
    """Seconds per AdamW step on batch × seq tokens (fp32, bf16 autocast) and forward tokens/s, GPT-2 small."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.manual_seed(0)
    config = GPT2Config()  # n_layer 12, n_embd 768, vocab 50,257, context 1,024
    model = GPT2LMHeadModel(config)
    model.config.use_cache = False
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, config.vocab_size, (batch, seq))
    steps, forwards = _time_both_precisions(model, opt, lambda: model(input_ids=ids, labels=ids).loss,
                                            lambda: model(input_ids=ids), repeats)  # fmt: skip
    return {"parameters": sum(p.numel() for p in model.parameters()), "tokens_per_step": batch * seq,
            **{f"train_step_{k}": v for k, v in steps.items()},
            **{f"forward_tokens_per_s_{k}": batch * seq / v for k, v in forwards.items()}}  # fmt: skip


# --- memlens's own per-shard cost -------------------------------------------------------------


def fz_observations(models: int, train: int = 50_000, test: int = 10_000, classes: int = 100) -> dict:
    """Observation arrays of ``models`` models as the ensemble returns them (the store's dtypes)."""
    rng = np.random.default_rng(0)
    return {
        "correct": (rng.random((models, train)) < 0.9).astype(np.float32),
        "loss": rng.random((models, train), dtype=np.float32),
        "confidence": rng.standard_normal((models, train), dtype=np.float32),
        "probabilities": rng.random((models, train, classes), dtype=np.float32).astype(np.float16),
        "test_correct": (rng.random((models, test)) < 0.7).astype(np.float32),
        "test_loss": rng.random((models, test), dtype=np.float32),
        "test_confidence": rng.standard_normal((models, test), dtype=np.float32),
    }


def measure_store(shard_models: int = 16) -> dict:
    """Seconds to write one shard of ``shard_models`` FZ-size models, and to merge two into the run."""
    from memlens.store import RunStore

    shard = fz_observations(shard_models)
    shard_bytes = sum(a.nbytes for a in shard.values())
    folder = tempfile.mkdtemp(prefix="memlens-scale-")
    try:
        membership = np.ones((2 * shard_models, 50_000), dtype=bool)
        store = RunStore.create_or_resume(f"{folder}/run", {"bench": "scale", "design": {"n_models": 2 * shard_models}}, membership)
        t = time.perf_counter()
        store.write_shard(0, 0, shard_models, shard, 1.0)
        write = time.perf_counter() - t
        store.write_shard(1, shard_models, 2 * shard_models, shard, 1.0)
        t = time.perf_counter()
        store.finalize()
        merge = time.perf_counter() - t
        store.release()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"shard_models": shard_models, "shard_bytes": shard_bytes, "write_shard_s": write,
            "write_bytes_per_s": shard_bytes / write, "finalize_bytes_per_s": 2 * shard_bytes / merge}  # fmt: skip


def measure_ray(shard_models: int = 16) -> dict | None:
    """A no-op Ray task's round trip, and the cost of putting one FZ shard's observations into
    Ray's object store (what a worker pays to return a shard; the driver then maps it, zero-copy)."""
    try:
        import ray
    except ImportError:
        return None
    arrays = fz_observations(shard_models)
    t = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    start = time.perf_counter() - t
    try:
        noop = ray.remote(num_cpus=1)(lambda: None)
        ray.get(noop.remote())  # a worker started
        rounds = 20
        t = time.perf_counter()
        ray.get([noop.remote() for _ in range(rounds)])
        dispatch = (time.perf_counter() - t) / rounds
        t = time.perf_counter()
        ray.get(ray.put(arrays))
        put = time.perf_counter() - t
    finally:
        ray.shutdown()
    return {"init_s": start, "dispatch_s": dispatch, "shard_bytes": sum(a.nbytes for a in arrays.values()), "put_s": put}


# --- projection -------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def project(workload: dict, platform: dict, nodes: int) -> dict:
    """Wall time and cost of ``workload`` on ``nodes`` nodes of ``platform``.

    Models are independent Ray tasks. Each gets ``units`` cores (or GPUs) of one node, its speed
    assumed linear in them, and they run in waves of ``slots`` at once; ``units`` is the count that
    finishes soonest (fewest on a tie). The driver writes each shard as it comes back (over the
    network beyond one node), which overlaps training, then merges them all and estimates.
    """
    models, per_node = workload["models"], platform["units_per_node"]

    def training_time(units: int) -> float:
        waves = math.ceil(models / (nodes * (per_node // units)))
        return waves * workload["flop_per_model"] / (units * platform["flop_per_s_per_unit"])

    units = min(range(1, per_node + 1), key=lambda u: (training_time(u), u))
    waves = math.ceil(models / (nodes * (per_node // units)))
    per_model = workload["flop_per_model"] / (units * platform["flop_per_s_per_unit"])
    compute = waves * per_model
    stored = workload["store_bytes"]
    streamed = stored / platform["write_bytes_per_s"] + (stored / platform["network_bytes_per_s"] if nodes > 1 else 0.0)
    merge = stored / platform["finalize_bytes_per_s"]
    wall = max(compute, streamed) + merge + workload["estimator_s"]
    return {"units": units, "waves": waves, "per_model_s": per_model, "compute_s": compute, "streamed_s": streamed,
            "merge_s": merge, "estimators_s": workload["estimator_s"], "wall_s": wall,
            "cost": nodes * wall / 3600 * platform["price_per_node_hour"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100, help="ResNet-18 epochs per model (FZ audit)")
    parser.add_argument("--fz-models", type=int, default=2000)
    parser.add_argument("--lm-tokens", type=float, default=1e8, help="tokens each shadow trains on")
    parser.add_argument("--lm-corpus", type=float, default=1e8, help="tokens every shadow observes (the audited corpus)")
    parser.add_argument("--lm-seq", type=int, default=1024, help="tokens per example (sequence)")
    parser.add_argument("--shadows", type=int, default=256)
    parser.add_argument("--gpu", choices=sorted(GPUS), default="h100")
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--mfu-resnet", type=float, default=0.05, help="ResNet-18 FLOPs used / GPU peak")
    parser.add_argument("--mfu-lm", type=float, default=0.40, help="GPT-2 FLOPs used / GPU peak")
    parser.add_argument("--gpu-price", type=float, default=None, help="$ per GPU-hour (default: the GPU's entry)")
    parser.add_argument("--cpu-cores-per-node", type=int, default=64)
    parser.add_argument("--cpu-node-price", type=float, default=3.28, help="$ per hour of a 64-core CPU node")
    parser.add_argument("--network-gbit", type=float, default=25.0, help="driver's network, Gbit/s")
    parser.add_argument("--repeats", type=int, default=1, help="timed steps after the warm-up (best is kept)")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows in a log as it comes
    started = time.perf_counter()
    threads = torch.get_num_threads()
    print(f"# scale on paper — torch {torch.__version__}, {threads} threads, {os.cpu_count()} CPUs, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, load average {os.getloadavg()[0]:.2f} at start")  # fmt: skip

    # --- measured ---------------------------------------------------------------------------
    resnet = measure_resnet(args.repeats)
    gpt2 = measure_gpt2(args.repeats)
    store = measure_store()
    ray_cost = None
    if not args.no_ray:
        try:
            ray_cost = measure_ray()
        except Exception as e:  # Ray is an optional extra here: the projection stands without it
            print(f"(Ray not measured: {type(e).__name__}: {e})")
    measured_s = time.perf_counter() - started
    r_best = min(resnet["train_step_fp32"], resnet["train_step_bf16"])
    g_best = min(gpt2["train_step_fp32"], gpt2["train_step_bf16"])
    r_flop = 3 * RESNET18_CIFAR_FORWARD_FLOP * 128
    g_flop = 6 * gpt2["parameters"] * gpt2["tokens_per_step"]
    print("\n## Measured on this CPU")
    print(f"ResNet-18 (CIFAR stem, {resnet['parameters']:,} parameters), SGD step at batch 128: "
          f"fp32 {resnet['train_step_fp32']:.2f} s, bf16 {resnet['train_step_bf16']:.2f} s "
          f"(= {r_flop / r_best / 1e9:.0f} GFLOP/s at 3 × 0.56 GFLOP × 128 = {r_flop / 1e9:.0f} GFLOP per step); "
          f"forward {resnet['forward_images_per_s_fp32']:.0f} img/s fp32, {resnet['forward_images_per_s_bf16']:.0f} bf16")  # fmt: skip
    print(f"GPT-2 small ({gpt2['parameters']:,} parameters), AdamW step on 2 × 256 tokens: "
          f"fp32 {gpt2['train_step_fp32']:.2f} s, bf16 {gpt2['train_step_bf16']:.2f} s "
          f"(= {gpt2['tokens_per_step'] / g_best:.0f} tokens/s, {g_flop / g_best / 1e9:.0f} GFLOP/s at 6·N·D); "
          f"forward {gpt2['forward_tokens_per_s_fp32']:.0f} tokens/s fp32, {gpt2['forward_tokens_per_s_bf16']:.0f} bf16")  # fmt: skip
    print(f"store: one shard of {store['shard_models']} FZ models ({store['shard_bytes'] / 2**20:.0f} MiB: "
          f"3 × 50,000 float32 + 50,000 × 100 float16 probabilities + 3 × 10,000 float32 test, per model) "
          f"written in {store['write_shard_s']:.2f} s = {store['write_bytes_per_s'] / 2**20:.0f} MiB/s "
          f"(npz + SHA-256 + manifest); finalize merges at {store['finalize_bytes_per_s'] / 2**20:.0f} MiB/s")  # fmt: skip
    if ray_cost:
        print(f"Ray (local, 2 CPUs): init {ray_cost['init_s']:.1f} s; a no-op task's round trip "
              f"{ray_cost['dispatch_s'] * 1e3:.1f} ms; one shard's observations ({ray_cost['shard_bytes'] / 2**20:.0f} MiB) "
              f"put into the object store in {ray_cost['put_s']:.2f} s ({ray_cost['shard_bytes'] / ray_cost['put_s'] / 2**20:.0f} MiB/s; "
              "the driver maps it without a copy on one node, and receives it at the network's speed from another)")  # fmt: skip
    print(f"(measuring took {measured_s:.0f} s)")

    # --- the two audits ---------------------------------------------------------------------
    train, test, subset = 50_000, 10_000, 0.7
    fz_train_images = subset * train * args.epochs
    fz_observe_images = train + test
    fz_flop = 3 * RESNET18_CIFAR_FORWARD_FLOP * fz_train_images + RESNET18_CIFAR_FORWARD_FLOP * fz_observe_images
    fz_bytes_per_model = 3 * train * 4 + train * 100 * 2 + 3 * test * 4
    n_lm = gpt2["parameters"]
    lm_examples = int(args.lm_corpus // args.lm_seq)
    lm_flop = 6 * n_lm * args.lm_tokens + 2 * n_lm * args.lm_corpus
    lm_bytes_per_model = 3 * lm_examples * 4  # loss, correct, confidence per sequence (float32)
    # estimators: BENCHMARKS.md's blockwise timings at 4,000 models × 60,000 examples (a loaded
    # 2-core machine, so upper bounds), scaled by models × examples (they stream blocks: linear)
    bench_cells, example_scores_s, mia_s = 4000 * 60_000, 128.0, 330.0
    fz_est = (example_scores_s + mia_s) * args.fz_models * train / bench_cells
    lm_est = mia_s * args.shadows * lm_examples / bench_cells  # LiRA online/offline, RMIA, loss attack
    workloads = {
        "FZ": {"models": args.fz_models, "flop_per_model": fz_flop, "store_bytes": args.fz_models * fz_bytes_per_model,
               "estimator_s": fz_est, "cpu_step": (r_best, 3 * RESNET18_CIFAR_FORWARD_FLOP * 128), "mfu": args.mfu_resnet},
        "LiRA-LM": {"models": args.shadows, "flop_per_model": lm_flop, "store_bytes": args.shadows * lm_bytes_per_model,
                    "estimator_s": lm_est, "cpu_step": (g_best, g_flop), "mfu": args.mfu_lm},
    }  # fmt: skip
    gpu_name, gpu_peak, gpu_price = GPUS[args.gpu]
    gpu_price = args.gpu_price if args.gpu_price is not None else gpu_price
    network = args.network_gbit * 1e9 / 8

    print("\n## Assumptions (options of this script)")
    print(f"FZ: {args.fz_models:,} ResNet-18s, each on {subset:.0%} of {train:,} images for {args.epochs} epochs "
          f"(SGD, batch 128; a schedule long enough to fit the training subset, which memorization needs); "
          f"every model observes all {train:,} + {test:,} images")  # fmt: skip
    print(f"    FLOP per model = 3 × 0.56e9 × {subset} × {train:,} × {args.epochs} (train) + 0.56e9 × {fz_observe_images:,} "
          f"(observe) = {fz_flop:.3g}; observations {fz_bytes_per_model / 2**20:.1f} MiB per model, "
          f"{args.fz_models * fz_bytes_per_model / GIB:.1f} GiB in all")  # fmt: skip
    print(f"LiRA-LM: {args.shadows} GPT-2-small shadows, each trained on {args.lm_tokens:.3g} tokens (e.g. 2 epochs of a "
          f"random half of a {args.lm_corpus:.3g}-token corpus, WikiText-103's size), and each scoring the whole corpus "
          f"({lm_examples:,} sequences of {args.lm_seq})")  # fmt: skip
    print(f"    FLOP per shadow = 6 × {n_lm:.3g} × {args.lm_tokens:.3g} + 2 × {n_lm:.3g} × {args.lm_corpus:.3g} "
          f"= {lm_flop:.3g} (6·N·D, attention's extra ~10% at 1,024 tokens left out)")  # fmt: skip
    print(f"GPU node: {args.gpus_per_node} × {gpu_name}, dense bf16 peak {gpu_peak / 1e12:.0f} TFLOP/s, "
          f"MFU {args.mfu_resnet:.0%} for ResNet-18 on 32×32 images (small convolutions, data loading) and "
          f"{args.mfu_lm:.0%} for GPT-2 (nanoGPT-like); ${gpu_price:.2f} per GPU-hour (on-demand list price, assumed)")  # fmt: skip
    print(f"CPU node: {args.cpu_cores_per_node} cores like this machine's, each at the measured 2-core rate ÷ 2 "
          f"(linear in cores: optimistic), u cores per model (below), the faster precision measured; ${args.cpu_node_price:.2f} "
          f"per node-hour (a 64-core cloud VM on demand, assumed)")  # fmt: skip
    print(f"driver: writes every shard (measured {store['write_bytes_per_s'] / 2**20:.0f} MiB/s) and merges them "
          f"(measured {store['finalize_bytes_per_s'] / 2**20:.0f} MiB/s); {args.network_gbit:g} Gbit/s network to the "
          f"driver on > 1 node; estimators from BENCHMARKS.md (4,000 × 60,000, loaded machine) scaled by "
          f"models × examples: FZ {fz_est:.0f} s, LiRA-LM {lm_est:.0f} s")  # fmt: skip

    platforms = {}
    for key, work in workloads.items():
        step_s, step_flop = work["cpu_step"]
        common = {"write_bytes_per_s": store["write_bytes_per_s"], "finalize_bytes_per_s": store["finalize_bytes_per_s"],
                  "network_bytes_per_s": network}  # fmt: skip
        platforms[(key, "CPU")] = {"units_per_node": args.cpu_cores_per_node, "flop_per_s_per_unit": step_flop / step_s / threads,
                                   "price_per_node_hour": args.cpu_node_price, "unit": "core", **common}  # fmt: skip
        platforms[(key, "GPU")] = {"units_per_node": args.gpus_per_node, "flop_per_s_per_unit": gpu_peak * work["mfu"],
                                   "price_per_node_hour": args.gpus_per_node * gpu_price, "unit": "GPU", **common}  # fmt: skip

    print("\n## Projection")
    print("| audit | nodes | per model | waves | training | driver: shards as they come, then merge | estimators | wall | cost |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for key, work in workloads.items():
        for kind in ("CPU", "GPU"):
            platform = platforms[(key, kind)]
            for nodes in (1, 8, 64):
                p = project(work, platform, nodes)
                unit = platform["unit"]
                label = f"{kind} × {nodes} ({nodes * platform['units_per_node']:,} {unit}s)"
                rate = p["units"] * platform["flop_per_s_per_unit"] / 1e12
                print(f"| {key} | {label} | {duration(p['per_model_s'])} on {p['units']} {unit}{'s' if p['units'] > 1 else ''} "
                      f"({rate:.3g} TFLOP/s) | {p['waves']} | {duration(p['compute_s'])} | {duration(p['streamed_s'])}, "
                      f"{duration(p['merge_s'])} | {duration(p['estimators_s'])} | **{duration(p['wall_s'])}** | ${p['cost']:,.0f} |")  # fmt: skip
    shard_models = store["shard_models"]
    overhead = store["write_shard_s"] + (ray_cost["dispatch_s"] + ray_cost["put_s"] if ray_cost else 0.0)
    gpu_shard = shard_models * workloads["FZ"]["flop_per_model"] / platforms[("FZ", "GPU")]["flop_per_s_per_unit"]
    print(f"\nmemlens's own cost per FZ shard of {shard_models} models: {overhead:.2f} s (store write"
          + (" + Ray dispatch + object-store put" if ray_cost else "")
          + f"), against {duration(gpu_shard)} of training on one GPU ({overhead / gpu_shard:.2%}); the driver's merge "
          f"({duration(workloads['FZ']['store_bytes'] / store['finalize_bytes_per_s'])} for FZ) and the estimators run once, at the end.")  # fmt: skip
    print("\nArithmetic: each model gets u cores or GPUs of one node (speed linear in u), u = 1 … units per node chosen")
    print("so that training ends soonest; slots = nodes × ⌊units per node ÷ u⌋; per model = FLOP per model ÷ (u × one")
    print("unit's rate); training = ⌈models ÷ slots⌉ waves × per model;")
    print("shards = stored bytes ÷ write speed (+ stored bytes ÷ network beyond one node), overlapping training;")
    print("wall = max(training, shards) + stored bytes ÷ merge speed + estimators; cost = nodes × wall × price per node-hour.")
    print(f"(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
