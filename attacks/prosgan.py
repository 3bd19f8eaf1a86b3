"""ProS-GAN: a generator, trained once per attacked model, that makes a targeted query in one
forward pass.

Wang et al., "Prototype-supervised Adversarial Network for Targeted Attack of Deep Hashing",
CVPR 2021 (xunguangwang/ProS-GAN, model/target_attack_gan.py). A PrototypeNet gives the target
label's code (fitted to the attacked model's train codes, as THA's); a generator conditioned on
that code maps a query to its adversarial version, trained on the train split to maximise the
agreement of the attacked model's output with the prototype code. At attack time each query
costs one generator pass and no gradient.

Divergences: the generator's output is a perturbation ``eps * tanh(G(x, code))`` added to x,
so the benchmark's l-inf budget holds by construction, and the paper's reconstruction and
discriminator terms (which keep its unbounded output image-like) are left out; the generator is
a small encoder-decoder with the target code joining at a 7x7 bottleneck (the paper's is larger,
with a label-feature decoder); the hashing term is a per-bit hinge, max(0, 0.5 - f(x')_k t_k)
averaged over bits, instead of the paper's mean agreement: with the mean, the generator
saturated at a fixed pattern on the digit data (the bits already agreeing kept their pull).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hashbench.api import Attack, Citation, Need
from hashbench.kit.attack_kit import EpsParams
from hashbench.kit.optim import eval_mode
from hashbench.kit.prototypes import fitted_prototypes

# a bit whose relaxed output agrees with the target code by this much no longer counts
MARGIN = 0.5


@dataclass(frozen=True)
class Params(EpsParams):
    epochs: int = field(default=20, metadata={"min": 0, "max": 10000,
                                              "help": "generator epochs over the train split"})
    batch_size: int = field(default=32, metadata={"min": 1})
    lr: float = field(default=1e-3, metadata={"min": 0.0, "help": "generator Adam lr"})
    width: int = field(default=32, metadata={"min": 4, "max": 1024,
                                             "help": "generator channels"})
    proto_steps: int = field(default=3000, metadata={"min": 0, "max": 10**6,
                                                     "help": "PrototypeNet steps"})
    proto_lr: float = field(default=1e-4, metadata={"min": 0.0})
    proto_hidden: int = field(default=4096, metadata={"min": 8})


class Generator(nn.Module):
    """(image in [0,1], target code) -> a perturbation direction in [-1, 1] per pixel.

    An encoder to a 7x7 bottleneck where the target code joins (a fully connected mix, so the
    pattern can depend on position and on the whole image), then a decoder at the image's size
    that sees the image again, plus a linear map of the code to a full-size pattern. The last
    layers start at zero: training starts from no perturbation, where tanh has its full
    slope."""

    def __init__(self, channels: int, bits: int, width: int, size: tuple[int, int]):
        super().__init__()
        self.width = width
        # the code's own pattern at the image's size (each bit a learnt perturbation): what a
        # universal perturbation per target is, which the image-dependent path then refines
        self.pattern = nn.Linear(bits, channels * size[0] * size[1])
        nn.init.zeros_(self.pattern.weight)
        nn.init.zeros_(self.pattern.bias)
        self.encode = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(7), nn.Flatten())
        self.mix = nn.Sequential(nn.Linear(width * 49 + bits, width * 49), nn.ReLU())
        self.decode = nn.Sequential(
            nn.Conv2d(width + channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, channels, 3, padding=1))
        nn.init.zeros_(self.decode[-1].weight)
        nn.init.zeros_(self.decode[-1].bias)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        image = x * 2 - 1
        h = self.mix(torch.cat([self.encode(image), code.to(x.dtype)], dim=1))
        h = nn.functional.interpolate(h.view(-1, self.width, 7, 7), size=x.shape[2:],
                                      mode="bilinear", align_corners=False)
        own = self.pattern(code.to(x.dtype)).view(x.shape)
        return torch.tanh(self.decode(torch.cat([h, image], dim=1)) + own)


class ProSGAN(Attack):
    """Targeted, generative: one generator pass per query toward the target label's prototype.

    Paper: Wang et al., Prototype-supervised Adversarial Network for Targeted Attack of Deep
    Hashing, CVPR 2021.
    Threat model: l-inf, eps in [0,1] pixel units; targeted (reports t-mAP and mAP); white-box
    while the generator trains, none at attack time.
    Needs: target labels; train images, codes and labels; database labels (candidate targets).
    Defaults: Adam with betas (0.5, 0.999) as the official code, lr 1e-3; 20 epochs over the
    train split, batch 32; PrototypeNet 3,000 steps.
    Cost: training, once per attacked model (cached with it): epochs x train size forward and
    backward passes through the attacked model; then one generator pass per query.

    Example:
        >>> ProSGAN(eps=0.3, epochs=1).params.width
        32
    """

    name = "prosgan"
    version = 1
    targeted = True
    needs = frozenset({Need.TARGET_LABELS, Need.TRAIN_IMAGES, Need.TRAIN_CODES,
                       Need.TRAIN_LABELS, Need.DATABASE_LABELS})
    Params = Params
    citation = Citation(
        key="Wang2021Prototype",
        title="Prototype-supervised Adversarial Network for Targeted Attack of Deep Hashing",
        url="https://arxiv.org/abs/2105.07553",
    )

    def prepare(self, model, ctx):
        p = self.params
        targets = fitted_prototypes(self, ctx)
        device = next(model.parameters()).device
        train = ctx.train_images
        shape = train.images(torch.arange(1)).shape[1:]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**31, (1,),
                                                generator=ctx.rng("generator/init"))))
            net = Generator(shape[0], ctx.train_codes.shape[1], p.width, tuple(shape[1:])
                            ).to(device)
        candidates = torch.unique(ctx.database_labels, dim=0)
        candidates = candidates[candidates.sum(1) > 0]

        def fit(gen: nn.Module) -> None:
            rng = ctx.rng("generator/fit")
            opt = torch.optim.Adam(gen.parameters(), lr=p.lr, betas=(0.5, 0.999))
            gen.train()
            with eval_mode(model):
                for _ in range(p.epochs):
                    order = torch.randperm(len(train), generator=rng)
                    for start in range(0, len(order), p.batch_size):
                        idx = order[start:start + p.batch_size]
                        x = train.images(idx).to(device)
                        pick = torch.randint(0, len(candidates), (len(idx),), generator=rng)
                        code = targets.codes(candidates[pick.to(candidates.device)])
                        x_adv = (x + p.eps * gen(x, code)).clamp(0.0, 1.0)
                        # per-bit hinge: a bit agreeing by the margin stops pulling
                        loss = torch.relu(MARGIN - model(x_adv) * code).mean()
                        opt.zero_grad(set_to_none=True)
                        grads = torch.autograd.grad(loss, list(gen.parameters()))
                        for param, g in zip(gen.parameters(), grads):
                            param.grad = g  # never into the attacked model's .grad
                        opt.step()

        return targets, ctx.cached(self, "generator", net, fit)

    def perturb(self, model, x, batch, state, ctx):
        targets, gen = state
        if self.params.eps <= 0:
            return x.detach().clone()
        with torch.no_grad():
            code = targets.codes(batch.target_labels).to(x.device)
            x_adv = (x + self.params.eps * gen(x, code)).clamp(0.0, 1.0)
            keep = ~batch.target_labels.any(dim=1)
            x_adv[keep.to(x.device)] = x[keep.to(x.device)]
        return x_adv
