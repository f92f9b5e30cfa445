"""Restoration stage: seconds per 512 x 512 image per task, and the cost of stitching.

Velocity: a small *untrained* U-Net (the default-profile architecture at 64 px patches; an
untrained network costs exactly what a trained one does). A sampler step is one stitched network
evaluation plus the task's own work (data gradient, noise, split/merge), so

- ``network_step_seconds``: one stitched U-Net evaluation of a 512 x 512 image (81 patches);
- ``tasks[task].overhead_step_seconds``: one step of the default ``dc`` sampler with the
  network-free analytic Gaussian velocity (operator, proximal data step, re-noising, stitching:
  everything but the network);
- ``tasks[task].seconds_per_image`` = ``steps * (network + overhead)`` for the default
  profile's ``restore.sampler.steps``: one posterior sample; ``seconds_per_restoration`` the
  mean of ``samples_per_image`` of them (both read from ``config/config.yaml``);
- ``stitching_overhead_ratio``: the stitched evaluation over the same 81 patches evaluated as an
  independent batch (both in chunks of ``BATCH``), i.e. the relative cost of split + averaging;
- ``dps_over_si_ratio``: one DPS step (gradient through the network) over one SI step (128 px);
  ``dps_over_dc_ratio`` the same over one ``dc`` step.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, parse_out, report
from flowem.config import load_config
from flowem.posterior import SamplerSettings, sample
from flowem.prior.analytic import GaussianPriorVelocity
from flowem.prior.network import NetworkConfig, VelocityNet
from flowem.restore.stitching import StitchedVelocity, overlap_pixels
from flowem.restore.tasks import TASKS, DegradationSettings, make_task

SIZE, PATCH, BATCH = 512, 64, 27
DEFAULTS = load_config(Path(__file__).resolve().parents[1] / "config/config.yaml")["restore"]
DEFAULT_STEPS, SAMPLES = int(DEFAULTS["sampler"]["steps"]), int(DEFAULTS["samples_per_image"])
NETWORK = NetworkConfig(image_size=PATCH, block_out_channels=(32, 64, 64), attention_levels=(2,))


def main() -> None:
    out = parse_out("results/bench/restore.json")
    torch.manual_seed(0)
    net = VelocityNet(NETWORK).eval().requires_grad_(False)
    overlap = overlap_pixels(PATCH)
    x = torch.randn(1, 1, SIZE, SIZE)
    t = torch.full((1,), 0.5)
    stitched = StitchedVelocity(net, PATCH, overlap, BATCH)
    tiles = stitched.tiling((SIZE, SIZE)).split(x)

    def independent() -> None:
        for i in range(0, len(tiles), BATCH):
            net(tiles[i : i + BATCH], t.expand(len(tiles[i : i + BATCH])))

    independent_s = best_of(independent, 2)
    network_s = best_of(lambda: stitched(x, t), 2)
    results: dict = {
        "velocity": "untrained U-Net " + str(NETWORK.to_dict()["block_out_channels"]),
        "image": [SIZE, SIZE],
        "patch": PATCH,
        "overlap": overlap,
        "patches_per_image": len(tiles),
        "steps": DEFAULT_STEPS,
        "threads": torch.get_num_threads(),
        "network_step_seconds": round(network_s, 4),
        "independent_patches_seconds": round(independent_s, 4),
        "stitching_overhead_ratio": round(network_s / independent_s, 3),
        "tasks": {},
    }
    analytic = StitchedVelocity(GaussianPriorVelocity(0.0, 0.5), PATCH, overlap, BATCH)
    one_step = SamplerSettings(method="dc", steps=2)  # the first of two steps re-noises
    generator = torch.Generator().manual_seed(0)
    for task_name in TASKS:
        task = make_task(task_name, DegradationSettings())
        op, std = task.operator, task.noise.std
        y = op.forward(x)
        overhead = best_of(
            lambda a=op, m=y, s=std: sample(analytic, x, a, m, one_step, generator, noise_std=s), 3
        )
        per_sample = DEFAULT_STEPS * (network_s + overhead / 2)
        results["tasks"][task_name] = {
            "overhead_step_seconds": round(overhead / 2, 4),
            "seconds_per_image": round(per_sample, 2),
            "seconds_per_restoration": round(SAMPLES * per_sample, 2),
        }
    results["samples_per_image"] = SAMPLES
    crop = x[..., :128, :128]
    op = make_task("sr4", DegradationSettings()).operator
    y = op.forward(crop)
    dps_step = SamplerSettings(method="dps", steps=1, dps_steps=1)
    si = best_of(lambda: sample(stitched, crop, op, y, SamplerSettings(steps=1)), 2)
    dc = best_of(lambda: sample(stitched, crop, op, y, one_step, generator, noise_std=0.01), 2) / 2
    dps = best_of(lambda: sample(stitched, crop, op, y, dps_step), 2)
    results["dps_over_si_ratio"] = round(dps / si, 2)
    results["dps_over_dc_ratio"] = round(dps / dc, 2)
    report(out, results)


if __name__ == "__main__":
    main()
