"""Overlapping-patch sampling of large images: exact reassembly, no seams."""

from __future__ import annotations

import itertools

import pytest
import torch

from flowem.physics.operators import AreaDownsample
from flowem.posterior import SamplerSettings, sample
from flowem.prior.analytic import GaussianPriorVelocity
from flowem.restore.stitching import PatchTiling, StitchedVelocity, overlap_pixels, tile_starts
from flowem.runtime import torch_generator


def test_tile_starts_cover_the_image_with_the_last_tile_at_the_border():
    assert overlap_pixels(128) == 16
    assert tile_starts(512, 128, 16) == [0, 112, 224, 336, 384]
    assert tile_starts(128, 128, 16) == [0]
    for length, patch, overlap in [(512, 64, 8), (100, 32, 4), (33, 32, 4)]:
        starts = tile_starts(length, patch, overlap)
        assert starts[0] == 0 and starts[-1] == length - patch
        assert all(0 < b - a <= patch - overlap for a, b in itertools.pairwise(starts))


@pytest.mark.parametrize(("shape", "patch"), [((512, 512), 128), ((100, 75), 32), ((40, 33), 32)])
def test_identity_patch_step_reproduces_the_image_exactly(shape, patch):
    """A per-patch step that returns its input, averaged over the overlaps, gives back the
    image bit for bit (same at patch borders as inside)."""
    tiling = PatchTiling(shape, patch, overlap_pixels(patch))
    x = torch.randn(2, 1, *shape, dtype=torch.float64)
    merged = tiling.merge(tiling.split(x))
    assert torch.allclose(merged, x, rtol=0, atol=1e-14)
    assert tiling.coverage.min() >= 1


def _border_mask(tiling: PatchTiling, shape) -> torch.Tensor:
    """Pixels in a band of 2 px around every tile edge (the places a seam would show)."""
    mask = torch.zeros(shape, dtype=torch.bool)
    p = tiling.patch
    for r, c in tiling.origins:
        for edge in (r, r + p - 1):
            mask[max(edge - 1, 0) : edge + 2, c : c + p] = True
        for edge in (c, c + p - 1):
            mask[r : r + p, max(edge - 1, 0) : edge + 2] = True
    return mask


def test_stitched_sampling_of_a_pointwise_prior_has_no_seam():
    """With a pointwise velocity (the analytic Gaussian prior) stitched sampling of a 512 x 512
    image equals whole-image sampling, and the energy on tile borders equals the interior's."""
    shape, patch = (512, 512), 128
    vel = GaussianPriorVelocity(0.0, 0.5)
    stitched = StitchedVelocity(vel, patch, overlap_pixels(patch), batch_size=25)
    noise = torch.randn(1, 1, *shape, generator=torch_generator(0, 7))
    op = AreaDownsample(4)
    y = op.forward(0.5 * torch.randn(1, 1, *shape, generator=torch_generator(0, 8)))
    settings = SamplerSettings(method="si", steps=8, lr=1.0)
    whole = sample(vel, noise, op, y, settings)
    tiled = sample(stitched, noise, op, y, settings)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5)
    mask = _border_mask(stitched.tiling(shape), shape)
    energy_border = tiled[0, 0][mask].pow(2).mean()
    energy_inside = tiled[0, 0][~mask].pow(2).mean()
    # ~50k border pixels: sampling error of a mean square of that many values is ~1 %
    assert energy_border / energy_inside == pytest.approx(1.0, abs=0.05)


def test_stitched_velocity_pads_images_smaller_than_the_patch():
    vel = GaussianPriorVelocity(0.1, 0.7)
    stitched = StitchedVelocity(vel, 32, 4)
    x = torch.randn(3, 1, 20, 50)
    t = torch.full((3,), 0.4)
    torch.testing.assert_close(stitched(x, t), vel(x, t))
