"""FlowDPS stage: seconds per particle, and the cost of a FlowDPS step against a DPS-style step
whose data gradient passes through the network (same run, same network and operator).

Uses the default configuration's network (untrained: a trained one costs the same) at 64 x 64
and the default sampler settings; ``step_cost_ratio`` = DPS step / FlowDPS step (> 1 means
FlowDPS's gradient on the clean estimate, without the network Jacobian, is cheaper).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_out, report
from flowem.config import load_config
from flowem.physics.ctf import Optics
from flowem.physics.forward import MicroscopeForward
from flowem.posterior import FlowDPSSettings, flowdps_sample
from flowem.posterior.likelihood import poisson_nll
from flowem.prior.network import NetworkConfig, VelocityNet
from flowem.runtime import torch_generator

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    out = parse_out("results/bench/flowdps.json")
    config = load_config(REPO / "config/config.yaml")
    torch.manual_seed(0)
    net = VelocityNet(NetworkConfig.from_dict(config["prior"]["phase"]["train"]["network"])).eval()
    size = net.config.image_size
    params = config["flowdps"]
    samples, steps = params["samples"], 10
    particles = max(1, params["batch_size"] // samples)
    batch = particles * samples
    op = MicroscopeForward(Optics(), (size, size), 5.24, 50.0, torch.full((batch,), 15000.0))
    y = op.sample(torch.zeros(batch, size, size))
    scale = 0.2

    @torch.no_grad()
    def velocity(x, t):
        return net(x[:, None], t)[:, 0]

    settings = FlowDPSSettings(steps=steps, dc_steps=params["dc_steps"], step_size=1.0)
    gens = [torch_generator(0, i) for i in range(batch)]
    tic = time.perf_counter()
    flowdps_sample(velocity, op, y, gens, settings, scale=scale)
    flow_step = (time.perf_counter() - tic) / steps

    def dps_step(x, t):
        x = x.detach().requires_grad_(True)
        v = net(x[:, None], torch.full((x.shape[0],), t))[:, 0]
        x1 = x + (1 - t) * v
        loss = poisson_nll(y, op(scale * x1)).sum() / op.alpha
        (grad,) = torch.autograd.grad(loss, x)
        return (x + v / steps - grad).detach()

    x = torch.randn(batch, size, size)
    tic = time.perf_counter()
    for k in range(steps):
        x = dps_step(x, k / steps)
    dps = (time.perf_counter() - tic) / steps
    per_particle = flow_step * params["steps"] / particles
    report(
        out,
        {
            "image_size": size,
            "samples_per_particle": samples,
            "steps": params["steps"],
            "dc_steps": params["dc_steps"],
            "flowdps_step_seconds": round(flow_step, 4),
            "dps_step_seconds": round(dps, 4),
            "step_cost_ratio": round(dps / flow_step, 3),
            "seconds_per_particle": round(per_particle, 3),
            "threads": torch.get_num_threads(),
        },
    )


if __name__ == "__main__":
    main()
