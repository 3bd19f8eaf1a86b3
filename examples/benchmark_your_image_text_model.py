"""Evaluate your own image-text hashing model in a few lines: no plugin, no suite file.

    python examples/benchmark_your_image_text_model.py

An image-text model is a pair of modules sharing one Hamming space: an image network (images in
[0,1] -> K real outputs) and a text network (tag vectors -> K real outputs); the signs are the
codes. Here both are trained for a few epochs on the embedded mnist_multi canvases and their tag
vectors, each pulled onto a target code per item, then measured as the cells of the
`crossmodal_smoke` suite (`suite="crossmodal"`, the default, for the published board): image
queries against the text database under image attacks (I->T), text queries against the image
database under tag flips (T->I), each with its per-query worst case.
"""

import torch
from torch import nn

import hashbench
from hashbench.data import load_dataset


def my_pair(data, bits: int = 16) -> tuple[nn.Module, nn.Module]:
    channels = data.image_shape[0]
    image_net = nn.Sequential(nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(32 * 16, bits))
    text_net = nn.Sequential(nn.Linear(data.text_dim, 128), nn.ReLU(), nn.Linear(128, bits))
    return image_net, text_net


def train(image_net: nn.Module, text_net: nn.Module, data, epochs: int = 10):
    """Both sides pulled onto one target code per item: the sign of the sum of its labels'
    random +-1 centers (CSQ's idea, made multi-label), so an image and its tags meet."""
    g = torch.Generator().manual_seed(0)
    x = data.train.images(torch.arange(len(data.train)))
    t, y = data.train.texts, data.train.labels
    centers = torch.randint(0, 2, (y.shape[1], image_net[-1].out_features), generator=g) * 2.0 - 1
    target = torch.where(y @ centers >= 0, 1.0, -1.0)
    opt = torch.optim.Adam([*image_net.parameters(), *text_net.parameters()], 3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            u, v = torch.tanh(image_net(x[idx])), torch.tanh(text_net(t[idx]))
            loss = (u - target[idx]).pow(2).mean() + (v - target[idx]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return image_net.eval(), text_net.eval()


if __name__ == "__main__":
    torch.manual_seed(0)
    data = load_dataset("mnist_multi")
    pair = train(*my_pair(data), data)
    result = hashbench.benchmark(pair, "mnist_multi", suite="crossmodal_smoke", name="my_pair")
    print(result)                 # a table per direction: clean, each attack, the worst case
    print(result.to_pandas())     # one DataFrame, a direction column
    print(result["t2i"].records[0])
