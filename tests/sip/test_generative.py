"""The review's generative families on a linear-Gaussian toy with a known answer.

Parameters ``theta ~ N(mu, L L^T)`` in 2D, forward ``y = A theta + sigma eps`` onto 8 x 8
images (``A`` two orthogonal patterns, ``A^T A / sigma^2 = 100 I``), 1000 observed images. The
VAE's aggregate posterior and the WGAN-GP generator must recover ``N(mu, L L^T)``.

Threshold: the squared energy distance (unbiased) between 200 draws of the method and 2000
fresh draws of the true law must be below 4 null stds, ``4 * energy_noise_floor(...)["std"]``:
the exact spread of the estimator between two samples of the true law at those sizes (0.0042
here, so 0.017). A law equal to the truth passes except with probability under 1/16
(Chebyshev), and the test is seeded. The initial law scores ~1.9 (over 100 thresholds), and a
true-law sample whose mean is off by half its smallest standard deviation already fails (checked
below), so a method that does not learn, or learns only roughly, fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowem.sip.adversarial import NetworkGenerator, fit_adversarial
from flowem.sip.noise_floor import energy_noise_floor
from flowem.sip.simulation import reported_energy
from flowem.sip.vae import aggregate_posterior, fit_vae, gaussian_kl

SIZE, SIGMA, N_DRAWS, N_REFERENCE = 8, 0.5, 200, 2000
MU = torch.tensor([2.0, -1.0])
L = torch.tensor([[0.8, 0.0], [0.4, 0.5]])


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy():
    g = _gen(0)
    q, _ = torch.linalg.qr(torch.randn(SIZE * SIZE, 2, generator=g))
    a = q * (10 * SIGMA)  # orthogonal columns: A^T A / sigma^2 = 100 I

    def clean(theta, rows=None):
        return (theta @ a.T).reshape(-1, SIZE, SIZE)

    def forward(theta, gen):
        images = clean(theta)
        return images + SIGMA * torch.randn(images.shape, generator=gen)

    true = lambda n, gen: MU + torch.randn(n, 2, generator=gen) @ L.T  # noqa: E731
    observed = forward(true(1000, g), g)
    reference = true(N_REFERENCE, _gen(1)).double().numpy()
    initial = 2.0 * torch.randn(500, 2, generator=g)  # the initial law N(0, 4 I)
    floor = energy_noise_floor(reference, N_DRAWS, N_REFERENCE)["std"]
    return {"clean": clean, "forward": forward, "observed": observed, "reference": reference,
            "initial": initial, "threshold": 4 * floor, "true": true}  # fmt: skip


def test_the_threshold_resolves_a_half_std_mean_error(toy):
    ref, threshold = toy["reference"], toy["threshold"]
    exact = toy["true"](N_DRAWS, _gen(7)).double()
    shifted = exact + 0.5 * torch.linalg.eigvalsh(L @ L.T).sqrt().min()
    assert abs(reported_energy(exact, ref)) < threshold
    assert reported_energy(shifted, ref) > threshold
    assert reported_energy(toy["initial"][:N_DRAWS].double(), ref) > 100 * threshold


def test_vae_aggregate_posterior_recovers_the_parameter_law(toy):
    # prior N(0, 3^2 I): broad against the likelihood's precision 100, so the exact aggregate
    # posterior is the true law convolved with the posterior (std ~0.1): distance ~1e-4
    fit = fit_vae(toy["observed"], toy["clean"], SIGMA, torch.zeros(2), torch.full((2,), 3.0),
                  iterations=300, batch_size=64, lr=3e-3, channels=8, rng=_gen(2))  # fmt: skip
    draws = aggregate_posterior(fit.encoder, toy["observed"], N_DRAWS, _gen(3)).double()
    assert reported_energy(draws, toy["reference"]) < toy["threshold"]
    assert fit.history[-1]["elbo"] > fit.history[0]["elbo"]
    # the posterior is a spread, not a point: its std is near the exact posterior's 0.1
    _, log_std = fit.encoder(toy["observed"][:100])
    assert np.allclose(log_std.exp().mean(0).detach().numpy(), 0.1, rtol=0.5)


def test_wgan_gp_generator_recovers_the_parameter_law(toy):
    torch.manual_seed(2)  # the networks' initial weights
    model = NetworkGenerator(toy["initial"], hidden=32)
    fit = fit_adversarial(model, toy["forward"], toy["observed"], iterations=80, n_critic=5,
                          batch_size=64, lr=3e-3, critic_lr=1e-2, critic_channels=8,
                          rng=_gen(2))  # fmt: skip
    draws = fit.generator.draws(N_DRAWS, _gen(3)).double()
    assert reported_energy(draws, toy["reference"]) < toy["threshold"]


def test_gaussian_kl_is_the_closed_form():
    # KL(N(1, 2^2) || N(0, 1)) = (4 + 1 - 1 - ln 4) / 2 per dimension; 0 for equal laws
    mean, log_std = torch.tensor([[1.0, 0.5]]), torch.log(torch.tensor([[2.0, 3.0]]))
    prior_mean, prior_std = torch.tensor([0.0, 0.5]), torch.tensor([1.0, 3.0])
    kl = gaussian_kl(mean, log_std, prior_mean, prior_std)
    assert float(kl) == pytest.approx(0.5 * (4 - np.log(4)), rel=1e-6)
