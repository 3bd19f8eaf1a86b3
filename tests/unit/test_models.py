"""Hash models, losses and checkpoints."""

import pytest
import torch
from hashbench.methods.csq import hash_centers

from hashbench.harness.store import ModelStore
from hashbench.kit.seeding import generator
from hashbench.models.hash_model import HashModel, ModelSpec
from hashbench.registry import image_methods, make_loss


def test_output_is_tanh_of_alpha_z_with_k_bits():
    m = HashModel(ModelSpec("dpsh", "small_cnn", 24, 1, 10), seed=0).eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        u1, u2 = m(x, alpha=0.01), m(x, alpha=0.02)  # small alphas: far from saturation
        assert u1.shape == (3, 24) and float(m(x).abs().max()) <= 1
        assert torch.allclose(torch.atanh(u2) / 2, torch.atanh(u1), rtol=1e-3, atol=1e-5)
    assert set(m.encode(x).unique().tolist()) <= {-1.0, 1.0}


def test_same_seed_same_weights_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a = HashModel(ModelSpec("dpsh", "small_cnn", 16, 1, 10), seed=1)
    b = HashModel(ModelSpec("dpsh", "small_cnn", 16, 1, 10), seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("method", sorted(image_methods()))
def test_every_loss_is_finite_and_trains(method):
    g = torch.Generator().manual_seed(0)
    labels = torch.eye(4)[torch.arange(32) % 4]
    loss = make_loss(method, labels, 16, generator(0, "l"))
    u = torch.tanh(torch.randn(8, 16, generator=g)).requires_grad_(True)
    value = loss(u, labels[:8], torch.arange(8))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(u.grad).all()


def test_csq_centers_hadamard_or_bernoulli():
    g = generator(0, "c")
    h = hash_centers(10, 32, g)
    assert h.shape == (10, 32) and torch.equal(h @ h.T, 32 * torch.eye(10))
    b48 = hash_centers(10, 48, g)  # no Hadamard matrix of order 48 (P9)
    assert b48.shape == (10, 48) and set(b48.unique().tolist()) == {-1.0, 1.0}
    many = hash_centers(80, 16, g)  # 2K < C (MS-COCO at 16 bits)
    assert many.shape == (80, 16)


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    m = HashModel(ModelSpec("dph", "small_cnn", 16, 1, 10), seed=2).eval()
    store = ModelStore(tmp_path)
    sha = store.save_model("k" * 64, m, {"note": "x"})
    loaded, sha2 = store.load_model("k" * 64, torch.device("cpu"))
    assert sha == sha2
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(loaded(x), m(x))
    assert store.load_model("absent", torch.device("cpu")) is None


def test_torchvision_backbone_without_download():
    m = HashModel(ModelSpec("dpsh", "resnet18", 16, 3, 10), seed=0).eval()
    with torch.no_grad():
        assert m(torch.rand(1, 3, 32, 32)).shape == (1, 16)  # upsampled to 224 inside
    with pytest.raises(Exception, match="weights file .* not found"):
        HashModel(ModelSpec("dpsh", "alexnet", 16, 3, 10, weights="/nope.pth"))


def test_pretrained_backbones_need_a_weights_file_and_say_where(tmp_path):
    from hashbench.errors import DataError
    from hashbench.models.pretrained import file_sha256, weights_path

    assert weights_path("small_cnn", None) is None
    with pytest.raises(DataError, match="--data-root"):
        weights_path("alexnet", None)
    with pytest.raises(DataError, match=r"weights/vgg11\.pth.*IMAGENET1K_V1"):
        weights_path("vgg11", tmp_path)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "vgg11.pth").write_bytes(b"a")
    (tmp_path / "weights" / "alexnet.pth").write_bytes(b"b")
    assert weights_path("vgg11", tmp_path) == tmp_path / "weights" / "vgg11.pth"
    # the cache key uses the content, so two files give two keys
    assert file_sha256(str(tmp_path / "weights/vgg11.pth")) != \
        file_sha256(str(tmp_path / "weights/alexnet.pth"))
