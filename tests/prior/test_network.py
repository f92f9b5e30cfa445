"""Velocity U-Net: shapes, time dependence, config-driven attention and validation."""

import pytest
import torch
from tests.prior.prior_toys import TINY_NETWORK

from flowem.errors import ConfigError
from flowem.prior.network import NetworkConfig, VelocityNet


def test_output_matches_input_shape_and_depends_on_time():
    torch.manual_seed(0)
    net = VelocityNet(NetworkConfig.from_dict(TINY_NETWORK)).eval()
    for p in net.parameters():  # diffusers zero-initialises the output conv; make it live
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(3, 1, 8, 8)
    v0, v1 = net(x, torch.zeros(3)), net(x, torch.full((3,), 0.5))
    assert v0.shape == x.shape
    assert not torch.allclose(v0, v1)


def test_attention_only_at_configured_levels():
    cfg = NetworkConfig.from_dict(
        {
            **TINY_NETWORK,
            "block_out_channels": [8, 16, 16],
            "attention_levels": [2],
            "image_size": 16,
        }
    )
    kinds = [type(b).__name__ for b in VelocityNet(cfg).unet.down_blocks]
    assert kinds == ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attention_levels": [5]}, "attention_levels"),
        ({"image_size": 9}, "divisible by 2"),
        ({"norm_num_groups": 5}, "norm_num_groups"),
        ({"depth": 3}, "network: unknown keys"),
    ],
)
def test_invalid_configs_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        NetworkConfig.from_dict({**TINY_NETWORK, **change})


STEM_NETWORK = {**TINY_NETWORK, "space_to_depth": 2}


def test_space_to_depth_stem_keeps_the_shape_and_runs_the_unet_at_half_size():
    torch.manual_seed(0)
    net = VelocityNet(NetworkConfig.from_dict(STEM_NETWORK)).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(3, 1, 8, 8)
    inner = net.stem_in(x)
    assert inner.shape == (3, 4, 4, 4)
    assert net.unet.config.sample_size == 4 and net.unet.config.in_channels == 4
    v = net(x, torch.full((3,), 0.3))
    assert v.shape == x.shape and torch.isfinite(v).all()


def test_stem_is_exactly_invertible_and_folds_each_2x2_block_into_channels():
    net = VelocityNet(NetworkConfig.from_dict(STEM_NETWORK))
    x = torch.randn(2, 1, 8, 8)
    folded = net.stem_in(x)
    assert torch.equal(net.stem_out(folded), x)  # bit for bit: a pure permutation of pixels
    for k in range(4):
        assert torch.equal(folded[:, k], x[:, 0, k // 2 :: 2, k % 2 :: 2])


def test_stem_adds_no_weights_so_old_checkpoints_keep_their_format():
    old = NetworkConfig.from_dict(TINY_NETWORK)  # a config written before the key existed
    assert old.space_to_depth == 1 and old.to_dict()["space_to_depth"] == 1
    plain, stem = VelocityNet(old), VelocityNet(NetworkConfig.from_dict(STEM_NETWORK))
    assert set(plain.state_dict()) == set(stem.state_dict())
    assert all(key.startswith("unet.") for key in plain.state_dict())
    assert NetworkConfig.from_dict(stem.config.to_dict()) == stem.config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"space_to_depth": 0}, "space_to_depth must be >= 1"),
        ({"space_to_depth": 8}, r"2\*\*1 \* space_to_depth = 16"),
    ],
)
def test_invalid_stems_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        NetworkConfig.from_dict({**TINY_NETWORK, **change})
