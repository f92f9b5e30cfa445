"""Memory-mapped stack, fixed normalisation, rotation-only augmentation, stateless batches."""

import numpy as np
import pytest
import torch
from tests.prior.prior_toys import toy_images, write_stack

from flowem.errors import InputFileError
from flowem.prior.dataset import MrcImageStack, Normaliser, make_batch, rotate_quarter_turns


@pytest.fixture
def stack(tmp_path):
    images = toy_images(40, size=8, seed=3)
    return MrcImageStack(write_stack(tmp_path / "s.mrcs", images)), images


def test_gather_reads_requested_images_in_requested_order(stack):
    mapped, images = stack
    indices = np.array([7, 2, 39, 2, 0])
    np.testing.assert_array_equal(mapped.gather(indices), images[indices])
    assert isinstance(mapped.data, np.memmap)


def test_std_is_the_whole_stack_pixel_std(stack):
    mapped, images = stack
    assert mapped.std() == pytest.approx(float(images.astype(np.float64).std()), rel=1e-9)


def test_rotation_never_mirrors_a_chiral_image():
    chiral = np.zeros((1, 5, 5), np.float32)
    chiral[0, 0, :3], chiral[0, :4, 0] = 1, 2  # an "L": no rotation equals its mirror image
    rotations = [np.rot90(chiral[0], k) for k in range(4)]
    mirrors = [np.rot90(chiral[0, :, ::-1], k) for k in range(4)]
    out = rotate_quarter_turns(np.repeat(chiral, 4, 0), np.arange(4))
    for k in range(4):
        np.testing.assert_array_equal(out[k], rotations[k])
        assert not any(np.array_equal(out[k], m) for m in mirrors)


def test_batch_is_normalised_by_the_fixed_scale_not_per_image(stack):
    mapped, images = stack
    batch = make_batch(mapped, Normaliser(2.0), batch_size=8, seed=0, step=0, rotate=False)
    from flowem.prior.dataset import batch_indices

    expected = images[batch_indices(40, 8, 0, 0)] / 2.0
    np.testing.assert_allclose(batch.x1[:, 0].numpy(), expected)
    assert batch.x1.shape == batch.x0.shape == (8, 1, 8, 8) and batch.t.shape == (8,)


def test_rank_shares_concatenate_to_the_full_batch(stack):
    mapped, _ = stack
    full = make_batch(mapped, Normaliser(1.0), 8, seed=5, step=3)
    shares = [make_batch(mapped, Normaliser(1.0), 8, 5, 3, rank=r, world_size=2) for r in (0, 1)]
    for name in ("x1", "x0", "t"):
        torch.testing.assert_close(
            torch.cat([getattr(s, name) for s in shares]), getattr(full, name)
        )


def test_batches_depend_only_on_seed_and_step(stack):
    mapped, images = stack
    a = make_batch(mapped, Normaliser(1.0), 8, seed=1, step=10)
    b = make_batch(images, Normaliser(1.0), 8, seed=1, step=10)  # in-memory copy, same batch
    c = make_batch(mapped, Normaliser(1.0), 8, seed=1, step=11)
    assert torch.equal(a.x1, b.x1) and torch.equal(a.x0, b.x0) and torch.equal(a.t, b.t)
    assert not torch.equal(a.x0, c.x0)


@pytest.mark.filterwarnings("ignore:Data array contains NaN values")
def test_bad_stacks_name_the_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        MrcImageStack(tmp_path / "missing.mrcs")
    (tmp_path / "junk.mrcs").write_bytes(b"not an mrc file" * 100)
    with pytest.raises(InputFileError, match=r"junk\.mrcs"):
        MrcImageStack(tmp_path / "junk.mrcs")
    bad = toy_images(4)
    bad[1, 2, 2] = np.nan
    with pytest.raises(InputFileError, match="NaN"):
        MrcImageStack(write_stack(tmp_path / "nan.mrcs", bad)).std()
    with pytest.raises(InputFileError, match="square"):
        MrcImageStack(write_stack(tmp_path / "rect.mrcs", np.zeros((2, 4, 6), np.float32)))
