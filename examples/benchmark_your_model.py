"""Evaluate your own hashing model in a few lines: no plugin, no suite file.

    python examples/benchmark_your_model.py

Any torch.nn.Module mapping images in [0,1] to K real outputs works; the signs of the outputs are
its codes. Here a small CNN is trained for a few epochs on the embedded MNIST with a plain
pairwise loss, then measured as a cell of the `smoke` suite (`suite="standard"` for the full
board: 500 queries, 100-step attacks and the hash_aa ensemble). The records it writes are the
suite's, marked third-party: `hashbench report --results hashbench-results` ranks the model.
"""

import torch
from torch import nn

import hashbench
from hashbench.data import load_dataset


def my_model(bits: int = 16) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, bits))


def train(model: nn.Module, epochs: int = 3) -> nn.Module:
    data = load_dataset("mnist")
    g = torch.Generator().manual_seed(0)
    x, y = data.train.images(torch.arange(len(data.train))), data.train.labels
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            u = torch.tanh(model(x[idx]))
            same = (y[idx] @ y[idx].T > 0).float() * 2 - 1  # +1 same class, -1 otherwise
            loss = (u @ u.T / u.shape[1] - same).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


if __name__ == "__main__":
    torch.manual_seed(0)
    result = hashbench.benchmark(train(my_model()), "mnist", suite="smoke", name="my_cnn")
    print(result)                 # a table: clean, each attack, the worst case
    print(result.to_pandas())     # the same as a DataFrame
    print(result.records[0])      # where its records are
