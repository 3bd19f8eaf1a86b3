"""A literature-scale cell on whatever device there is: ResNet-50 at 224x224, 64 bits, 2,100
synthetic NUS-WIDE-shaped queries, 100-step center-guided PGD; plus training steps in fp32 and
with mixed precision (what ``run --amp`` does).

    python benchmarks/bench_literature_cell.py                      # CUDA when present
    python benchmarks/bench_literature_cell.py --device cpu --queries 8 --steps 2 --train-steps 2

Images and labels are random (timing only: no weights or datasets are read). On CUDA it also
samples GPU utilisation with nvidia-smi while the attack runs. The attack runs in fp32, as every
hashbench attack does.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import threading
import time

import torch

from hashbench.api import AttackContext, Need, QueryBatch
from hashbench.harness.work import resolve_device
from hashbench.kit.training import amp_dtype
from hashbench.models.hash_model import HashModel, ModelSpec
from hashbench.registry import attacks, make_loss


class Utilisation:
    """nvidia-smi's GPU utilisation, sampled every 0.5 s in a thread (CUDA only)."""

    def __init__(self, device: torch.device):
        self.samples: list[float] = []
        self.on = device.type == "cuda" and shutil.which("nvidia-smi") is not None
        self.index = device.index or 0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.wait(0.5):
            out = subprocess.run(["nvidia-smi", "-i", str(self.index), "--query-gpu="
                                  "utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                self.samples.append(float(out.stdout.strip()))

    def __enter__(self):
        if self.on:
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.on:
            self.thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "n/a"
        return f"{sum(self.samples) / len(self.samples):.0f}% mean, {max(self.samples):.0f}% max"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--queries", type=int, default=2100)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--train-batch", type=int, default=64)
    args = ap.parse_args()
    device = resolve_device(args.device)
    gen = torch.Generator().manual_seed(0)
    n_labels, n_train = 21, 2000
    spec = ModelSpec("dpsh", args.backbone, args.bits, 3, n_labels)
    model = HashModel(spec, seed=0, pretrained=False).to(device).eval()
    train_codes = torch.randint(0, 2, (n_train, args.bits), generator=gen).float() * 2 - 1
    train_labels = (torch.rand(n_train, n_labels, generator=gen) < 0.15).float()
    attack = attacks.create("center_pgd", eps=8 / 255, steps=args.steps)
    ctx = AttackContext(attack.needs, 0, "bench", "center_pgd", **{
        Need.TRAIN_CODES.value: train_codes.to(device),
        Need.TRAIN_LABELS.value: train_labels.to(device)})
    state = attack.prepare(model, ctx)

    rows = []
    # the attack over all queries, in the runner's batch size; data made on the CPU and copied
    # the way the runner does it (pinned, non-blocking)
    sync(device)
    t0 = time.perf_counter()
    with Utilisation(device) as util:
        for start in range(0, args.queries, args.batch):
            n = min(args.batch, args.queries - start)
            x = torch.rand(n, 3, 224, 224, generator=gen)
            if device.type == "cuda":
                x = x.pin_memory()
            x = x.to(device, non_blocking=True)
            labels = (torch.rand(n, n_labels, generator=gen) < 0.15).float().to(device)
            batch = QueryBatch(index=torch.arange(start, start + n), labels=labels)
            attack.perturb(model, x, batch, state, ctx)
    sync(device)
    attack_s = time.perf_counter() - t0
    images = args.queries * args.steps
    rows.append((f"center_pgd, {args.queries} queries x {args.steps} steps", attack_s,
                 f"{images / attack_s:.0f} img-steps/s", util.summary()))

    # training steps with the DPSH loss over a bank of the batch itself: fp32 and autocast
    for amp in (False, True):
        net = HashModel(spec, seed=0, pretrained=False).to(device).train()
        opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
        scaler = torch.amp.GradScaler("cuda") if amp and device.type == "cuda" else None
        x = torch.rand(args.train_batch, 3, 224, 224, generator=gen).to(device)
        y = (torch.rand(args.train_batch, n_labels, generator=gen) < 0.15).float().to(device)
        idx = torch.arange(args.train_batch, device=device)
        dpsh = make_loss("dpsh", y, args.bits, torch.Generator().manual_seed(0)).to(device)

        def step():
            with torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp):
                loss = dpsh(net(x), y, idx)
            opt.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()

        step()  # warm-up (cuDNN autotuning, allocator)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(args.train_steps):
            step()
        sync(device)
        sec = time.perf_counter() - t0
        label = f"one training step, batch {args.train_batch}, " + (
            f"amp ({str(amp_dtype(device)).removeprefix('torch.')})" if amp else "fp32")
        rows.append((label, sec / args.train_steps,
                     f"{args.train_batch * args.train_steps / sec:.0f} img/s", ""))

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"{args.backbone} at 224x224, {args.bits} bits, on {name} "
          f"({torch.get_num_threads()} CPU threads)\n")
    print("| work | seconds | throughput | GPU utilisation |")
    print("|---|---|---|---|")
    for work, sec, rate, util in rows:
        print(f"| {work} | {sec:.3f} | {rate} | {util} |")


if __name__ == "__main__":
    main()
