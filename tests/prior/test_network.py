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
