"""Holding a process to a thread count holds torch to it, whatever ran before."""

import subprocess
import sys


def test_hold_threads_holds_torch_after_torch_ran_in_parallel():
    # a fresh process in which torch has run a parallel forward pass (its OpenMP runtime up) and
    # numba never ran: numba's first set_num_threads reset torch's count to the cores when torch
    # was held before it (hashbench.benchmark's records said threads 2 under threads = 1)
    code = ("import torch\n"
            "from hashbench.models.hash_model import HashModel, ModelSpec\n"
            "net = HashModel(ModelSpec('dpsh', 'small_cnn', 32, 1, 10), seed=0).eval()\n"
            "with torch.no_grad():\n"
            "    net(torch.rand(512, 1, 28, 28))\n"
            "from hashbench.harness.threads import hold_threads\n"
            "hold_threads(1)\n"
            "print(torch.get_num_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
