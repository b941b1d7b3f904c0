"""The hand-written training step against autograd on the same objective and the same noise.

Tolerances: in fp32 the two differ only by summation order, so gradients agree to 1e-5
relative (measured: ~2e-7). In bf16 each GEMM input carries 8 significant bits (relative
rounding 2^-9), so gradients agree to 5% in norm (measured: at most 2.4%) and point the same
way (cosine similarity > 0.999); the loss terms, summed in fp32, agree to 0.1%.
"""

from __future__ import annotations

import pytest
import torch

from vae_core.config import make_config
from vae_core.vae.fast_step import FastStep, resolve_precision, step_kind, time_step
from vae_core.vae.model import VAE, build_model


def autograd_step(model: VAE, x: torch.Tensor, beta: float, eps: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """(recon, kl, loss) batch means and the gradients, by autograd through log_prob."""
    model.zero_grad(set_to_none=True)
    mu, logvar = model.encode(x)
    z = mu + (0.5 * logvar).exp() * eps
    recon = model.decode(z).log_prob(x)
    kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(-1)
    loss = -(recon - beta * kl).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return torch.stack([recon.mean(), kl.mean(), loss]).detach(), grads


def fast_step(model: VAE, x: torch.Tensor, beta: float, eps: torch.Tensor, precision: str) -> tuple[torch.Tensor, dict]:
    model.zero_grad(set_to_none=True)
    terms = FastStep(model, precision)(x, beta, eps)
    return terms, {n: p.grad.clone() for n, p in model.named_parameters()}


def case(
    hidden: tuple[int, ...], latent_dim: int, x_dim: int = 64, batch: int = 48, activation: str = "relu"
) -> tuple[VAE, torch.Tensor]:
    config = make_config("digits", hidden=hidden, latent_dim=latent_dim, activation=activation)
    model = build_model(config.model.__class__(**{**config.model.__dict__, "x_dim": x_dim}), seed=3)
    x = torch.rand(batch, x_dim, generator=torch.Generator().manual_seed(1))
    return model, x


@pytest.mark.parametrize(
    ("hidden", "latent_dim", "beta", "activation"),
    [((400,), 20, 1.0, "relu"), ((32, 16), 1, 4.0, "relu"), ((64,), 3, 0.0, "relu"), ((200, 200), 50, 1.0, "tanh")],
)
def test_fp32_step_equals_autograd(hidden: tuple[int, ...], latent_dim: int, beta: float, activation: str) -> None:
    model, x = case(hidden, latent_dim, x_dim=64 if len(hidden) > 1 or hidden == (64,) else 784, activation=activation)
    eps = torch.randn(len(x), latent_dim, generator=torch.Generator().manual_seed(2))
    want_terms, want = autograd_step(model, x, beta, eps)
    terms, got = fast_step(model, x, beta, eps, "fp32")
    torch.testing.assert_close(terms, want_terms, rtol=1e-5, atol=1e-4)
    assert set(got) == set(want)  # every parameter gets a gradient
    for name in want:
        err = (got[name] - want[name]).norm() / want[name].norm().clamp_min(1e-12)
        assert err < 1e-5, (name, float(err))


@pytest.mark.parametrize(("hidden", "latent_dim", "activation"), [((400,), 20, "relu"), ((200, 200), 50, "tanh")])
def test_bf16_step_is_close_to_autograd(hidden: tuple[int, ...], latent_dim: int, activation: str) -> None:
    model, x = case(hidden, latent_dim, x_dim=784, batch=256, activation=activation)
    eps = torch.randn(len(x), latent_dim, generator=torch.Generator().manual_seed(2))
    want_terms, want = autograd_step(model, x, 1.0, eps)
    terms, got = fast_step(model, x, 1.0, eps, "bf16")
    torch.testing.assert_close(terms, want_terms, rtol=1e-3, atol=1e-3)
    for name in want:
        a, b = got[name].flatten(), want[name].flatten()
        assert (a - b).norm() / b.norm() < 0.05, name
        assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.999, name


@pytest.mark.parametrize("bias", [-200.0, 200.0])
def test_saturated_logits_give_the_exact_loss(bias: float) -> None:
    """Logits far beyond the range where sigmoid or exp over/underflow in fp32."""
    model, x = case((32,), 2)
    with torch.no_grad():
        model.decoder[-1].bias.fill_(bias)
    eps = torch.randn(len(x), 2, generator=torch.Generator().manual_seed(2))
    want_terms, want = autograd_step(model, x, 1.0, eps)
    terms, got = fast_step(model, x, 1.0, eps, "fp32")
    assert torch.isfinite(terms).all()
    torch.testing.assert_close(terms, want_terms, rtol=1e-5, atol=1e-3)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("decoder_std", [0.1, None])  # fixed, and learned per x dimension
def test_gaussian_decoder_step_equals_autograd(decoder_std: float | None) -> None:
    config = make_config("two-moons", decoder_std=decoder_std, hidden=(16, 16))
    model = build_model(config.model, seed=3)
    if decoder_std is None:
        with torch.no_grad():  # one std on the 1e-3 floor, where the gradient must be 0
            model.log_std.copy_(torch.tensor([-0.3, -8.0]))
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(1))
    eps = torch.randn(40, 2, generator=torch.Generator().manual_seed(2))
    want_terms, want = autograd_step(model, x, 1.0, eps)
    terms, got = fast_step(model, x, 1.0, eps, "fp32")
    torch.testing.assert_close(terms, want_terms, rtol=1e-5, atol=1e-4)
    assert set(got) == set(want)
    for name in want:  # relative in norm: the std on the floor makes some gradients ~1e6
        err = (got[name] - want[name]).norm() / want[name].norm().clamp_min(1e-12)
        assert err < 1e-5, (name, float(err))
    if decoder_std is None:
        assert got["log_std"][1] == 0 and got["log_std"][0] != 0


def test_hand_written_only_where_the_closed_form_holds() -> None:
    for name in ("digits", "two-moons"):
        assert step_kind(*_parts(make_config(name, precision="fp32"))) == "fp32"
        assert step_kind(*_parts(make_config(name, kl_estimator="mc"))) == "autograd"
        assert step_kind(*_parts(make_config(name, kl_samples=2))) == "autograd"


def _parts(config):
    return config.model, config.train


def test_auto_precision_is_the_choosers_and_explicit_precision_is_never_measured() -> None:
    mnist, digits = make_config("mnist").model, make_config("digits").model
    asked = []

    def chooser(model, batch):
        asked.append((model, batch))
        return "bf16" if model.x_dim > 100 else "fp32"

    assert resolve_precision("auto", mnist, 512, chooser) == "bf16"
    assert resolve_precision("auto", digits, 128, chooser) == "fp32"
    assert asked == [(mnist, 512), (digits, 128)]
    for model in (mnist, digits):
        assert resolve_precision("fp32", model, 128, chooser) == "fp32"
        assert resolve_precision("bf16", model, 128, chooser) == "bf16"
    assert len(asked) == 2, "an explicit precision never asks the chooser"
    train = make_config("mnist").train
    assert step_kind(mnist, train, chooser) == "bf16" and asked[-1] == (mnist, train.batch_size)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_time_step_times_the_real_step_and_leaves_the_rng_alone(precision) -> None:
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    ms = time_step(make_config("digits", hidden=(32,)).model, 64, precision, repeats=2)
    assert 0 < ms < 10_000
    assert torch.equal(torch.rand(3), before)
