"""SSAH: self-supervised adversarial hashing (label network + modality discriminators).

Li, Deng, Li, Liu, Gao, Tao, "Self-Supervised Adversarial Hashing Networks for Cross-Modal
Retrieval", CVPR 2018 (lelan-li/SSAH). A label network maps each item's multi-hot label to a
semantic feature, a hash output and a label prediction; its feature and hash banks supervise the
image and text networks through pairwise likelihoods, and two discriminators (image vs label
features, text vs label features) are played against the image and text networks so the
modalities' semantic features become indistinguishable from the label network's.

Divergences, all for one optimiser and one training loop:
* SSAH alternates label-net, discriminator, image and text phases; here every minibatch takes one
  step of all of them. The discriminators' minimax runs through a gradient-reversal layer (Ganin
  and Lempitsky, ICML 2015): they minimise their classification loss while the image and text
  networks receive the negated gradient.
* SSAH's semantic and label layers sit between fc7 and the hash layer; here they are heads on
  the same backbone features the hash layer reads, owned by the method and dropped after
  training, so the retrieval model keeps the harness's shape.
* The pairwise terms are the likelihood of the paper's equations (the official code's squared
  form of it is not used), averaged over the N pairs of each item; the quantisation term keeps
  its weight relative to them as in the paper's sums, beta * K / N (as in DCMH; averaged on its
  own it is N/K times heavier and the embedded model learns nothing: 0.23 I->T mAP, the base
  rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from hashbench.methods._common import pair_nll, share_label
from torch import nn
from torch.nn import functional as F

from hashbench.api import Citation, CrossModalMethod, CrossModalObjective
from hashbench.metrics import binarize


@dataclass(frozen=True)
class Params:
    alpha: float = field(default=1.0, metadata={"min": 0.0, "help": "feature likelihood"})
    gamma: float = field(default=1.0, metadata={"min": 0.0, "help": "hash likelihood"})
    beta: float = field(default=1.0, metadata={"min": 0.0, "help": "quantisation"})
    eta: float = field(default=1.0, metadata={"min": 0.0, "help": "label prediction"})
    delta: float = field(default=1.0, metadata={"min": 0.0, "help": "adversarial alignment"})
    embed: int = field(default=512, metadata={"min": 1, "help": "semantic feature width"})


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


def _mlp(*widths: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SSAHModules(nn.Module):
    """The method's own networks: label net, semantic/label heads, two discriminators."""

    def __init__(self, n_classes: int, bits: int, image_dim: int, text_dim: int, embed: int):
        super().__init__()
        self.label_feature = nn.Sequential(_mlp(n_classes, embed, embed), nn.ReLU())
        self.label_hash = nn.Linear(embed, bits)
        self.heads = nn.ModuleDict({
            "label": nn.Linear(embed, n_classes),
            "image_feature": nn.Sequential(nn.Linear(image_dim, embed), nn.ReLU()),
            "text_feature": nn.Sequential(nn.Linear(text_dim, embed), nn.ReLU()),
            "image_label": nn.Linear(embed, n_classes),
            "text_label": nn.Linear(embed, n_classes),
        })
        self.discriminators = nn.ModuleDict({m: _mlp(embed, 256, 1) for m in ("image", "text")})


class SSAHObjective(CrossModalObjective):
    def __init__(self, model, train, params: Params, seed: int):
        self.p = params
        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.aux = SSAHModules(train.labels.shape[1], model.bits,
                                   model.image.features.out_features, model.text.out_features,
                                   params.embed).to(device)
        self.labels = train.labels.to(device)
        self.beta = params.beta * model.bits / len(train)
        with torch.no_grad():  # the label network's banks start from its initial outputs
            self.L_fea = self.aux.label_feature(self.labels)
            self.H = torch.tanh(self.aux.label_hash(self.L_fea))

    def parameters(self):
        return list(self.aux.parameters())

    def _modality(self, feat, u, name, s, b, y, label_fea):
        p, aux = self.p, self.aux
        sem = aux.heads[f"{name}_feature"](feat)
        pred = torch.sigmoid(aux.heads[f"{name}_label"](sem))
        fooled = aux.discriminators[name](_GradReverse.apply(sem))
        truth = aux.discriminators[name](label_fea.detach())
        adversarial = (F.binary_cross_entropy_with_logits(fooled, torch.zeros_like(fooled))
                       + F.binary_cross_entropy_with_logits(truth, torch.ones_like(truth)))
        return (p.alpha * pair_nll(0.5 * sem @ self.L_fea.T, s)
                + p.gamma * pair_nll(0.5 * u @ self.H.T, s)
                + self.beta * (b - u).pow(2).mean() + p.eta * (pred - y).pow(2).mean()
                + p.delta * adversarial)

    def __call__(self, model, batch, step):
        p, aux, y = self.p, self.aux, batch.y
        s = share_label(y, self.labels)
        label_fea = aux.label_feature(y)
        h = torch.tanh(aux.label_hash(label_fea))
        self.L_fea[batch.idx], self.H[batch.idx] = label_fea.detach().float(), h.detach().float()
        feat_i = model.image.embed(batch.x)
        u_i = torch.tanh(model.image.hash_layer(feat_i))
        feat_t = model.text.embed(batch.text)
        u_t = torch.tanh(model.text.hash_layer(feat_t))
        b = binarize((h + u_i + u_t).detach())
        label_pred = torch.sigmoid(aux.heads["label"](label_fea))
        loss_label = (p.alpha * pair_nll(0.5 * label_fea @ self.L_fea.T, s)
                      + p.gamma * pair_nll(0.5 * h @ self.H.T, s)
                      + self.beta * (b - h).pow(2).mean()
                      + p.eta * (label_pred - y).pow(2).mean())
        return (loss_label + self._modality(feat_i, u_i, "image", s, b, y, label_fea)
                + self._modality(feat_t, u_t, "text", s, b, y, label_fea))


class SSAH(CrossModalMethod):
    """Self-supervised adversarial hashing.

    Paper: Li et al., Self-Supervised Adversarial Hashing Networks for Cross-Modal Retrieval,
    CVPR 2018, https://arxiv.org/abs/1804.01223.
    Loss: label-network likelihoods (features and hash outputs) supervising both modalities,
    quantisation, label prediction and adversarial feature alignment.
    Defaults: alpha = gamma = beta = eta = delta = 1, 512-d semantic features (lelan-li/SSAH
    setting.py).

    Example:
        >>> SSAH().params.embed
        512
    """

    name = "ssah"
    version = 1
    Params = Params
    citation = Citation(key="Li2018Self", title="Self-Supervised Adversarial Hashing Networks "
                        "for Cross-Modal Retrieval", url="https://arxiv.org/abs/1804.01223")

    def objective(self, model, train, ctx):
        seed = int(torch.randint(2**62, (1,), generator=ctx.rng("ssah-init")))
        return SSAHObjective(model, train, self.params, seed)
