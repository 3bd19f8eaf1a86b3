"""What pinning the CPU kernels to AVX2 costs: attack gradients and training steps of the standard
suite's model, pinned (hashbench's default) against the machine's own kernels.

    python benchmarks/bench_cpu_pinning.py [--reps 3]

Each measurement runs in a fresh process (the kernel level is fixed when torch starts), the two
settings interleaved, best of ``--reps``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, time, torch
from hashbench.models.hash_model import HashModel, ModelSpec
torch.set_num_threads(2)
model = HashModel(ModelSpec("dpsh", "small_cnn", 32, 1, 10), seed=0)
x = torch.rand(128, 1, 28, 28, generator=torch.Generator().manual_seed(0))
opt = torch.optim.Adam(model.parameters(), 1e-3)
def attack_step():
    xa = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xa).sum(), xa)
def train_step():
    opt.zero_grad(); model(x).pow(2).mean().backward(); opt.step()
out = {"aten": torch.backends.cpu.get_cpu_capability()}
for name, fn in (("attack_step", attack_step), ("train_step", train_step)):
    for _ in range(5): fn()
    t = time.perf_counter()
    for _ in range(40): fn()
    out[name] = (time.perf_counter() - t) / 40 * 1000
print(json.dumps(out))
"""


def native_level() -> str:
    """The kernel level torch picks on this machine when nothing pins it."""
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    res = subprocess.run([sys.executable, "-c", "import torch; "
                          "print(torch.backends.cpu.get_cpu_capability())"],
                         capture_output=True, text=True, env=env, check=True)
    return res.stdout.strip().lower()


def measure(pinned: bool) -> dict:
    from hashbench.cpu_kernels import PINNED

    env = {k: v for k, v in os.environ.items() if k not in PINNED}
    # the child imports no entry point, so it runs what its environment says: hashbench's pins,
    # or the machine's own levels (MKL then picks its path by the CPU)
    env.update(PINNED if pinned else {"ATEN_CPU_CAPABILITY": native_level(),
                                      "ONEDNN_MAX_CPU_ISA": "ALL"})
    res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    best: dict[bool, dict] = {}
    for _ in range(args.reps):
        for pinned in (True, False):
            m = measure(pinned)
            prev = best.get(pinned)
            best[pinned] = m if prev is None else {
                k: (min(v, prev[k]) if isinstance(v, float) else v) for k, v in m.items()}
    print("| kernels | ATen level | attack step (ms, batch 128) | training step (ms) |")
    print("|---|---|---|---|")
    for pinned in (False, True):
        m = best[pinned]
        print(f"| {'pinned AVX2 (default)' if pinned else 'machine default'} | {m['aten']} | "
              f"{m['attack_step']:.2f} | {m['train_step']:.2f} |")
    for key in ("attack_step", "train_step"):
        print(f"{key}: pinned / default = {best[True][key] / best[False][key]:.2f}x")


if __name__ == "__main__":
    main()
