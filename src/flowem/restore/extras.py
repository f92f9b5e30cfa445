"""Extra restoration experiments: speed (flow vs diffusion-style DPS), one full stitched slice
and qualitative axial super-resolution of the real anisotropic volume (SPEC section 6).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from flowem.metrics import NiqeModel
from flowem.physics.boxes import centre_crop_or_pad
from flowem.posterior import SamplerSettings
from flowem.prior.velocity import PriorVelocity
from flowem.restore.axial import axial_sample, fine_depth
from flowem.restore.baselines import Context, linear_z
from flowem.restore.evaluate import (
    display_measurement,
    image_scores,
    mean_scores,
    no_reference_scores,
    plot_panels,
)
from flowem.restore.settings import RestoreSettings
from flowem.restore.stitching import StitchedVelocity, overlap_pixels
from flowem.restore.tasks import make_task
from flowem.runtime import torch_generator

# What the speed comparison's diffusion arm ran: DPS on the diffusion EM prior (restore_rivals,
# paper profile), or, without one, DPS through the flow network (a stand-in, labelled as such).
DIFFUSION_PRIOR_ARM = "diffusion_prior"
FLOW_NETWORK_ARM = "flow_network"


def speed_from_rows(result, diffusion_row: str, settings) -> dict:
    """Flow vs diffusion from the speed task's rows of the same run (the same number of
    samples per image): seconds per restored image of the task's flow row and of DPS on the
    diffusion prior (``diffusion_row``), and their mean PSNR on the crops DPS restored (all
    or ``diffusion_crops`` of them) with the paired difference."""
    flow, diffusion = result.flow_row, diffusion_row
    per_crop = result.per_crop.set_index("crop")
    crops = per_crop.loc[per_crop["method"] == diffusion].index
    flow_psnr = per_crop.loc[per_crop["method"] == flow, "psnr"].loc[crops]
    out = {
        "task": settings.speed_task,
        "n_patches": len(crops),
        "samples_per_image": settings.samples_per_image,
        "flow_row": flow,
        "diffusion_row": diffusion,
        "diffusion_arm": DIFFUSION_PRIOR_ARM,
        "flow_seconds": result.seconds[flow],
        "diffusion_seconds": result.seconds[diffusion],
        "psnr_flow": float(flow_psnr.mean()),
        "psnr_diffusion": result.scores[diffusion]["psnr"],
        "psnr_difference": result.scores[diffusion]["paired"]["psnr"],
    }
    out["speedup"] = out["diffusion_seconds"] / out["flow_seconds"]
    return out


def speed_comparison(restorer, truths: np.ndarray, sampler: SamplerSettings, settings) -> dict:
    """Without a diffusion prior: the flow sampler (``sampler``, one posterior sample) vs flow
    DPS (``dps_steps`` steps, gradient through the network, one sample) on the centre patch of
    ``truths``; seconds for the whole batch of patches, PSNR the mean over them."""
    task = make_task(settings.speed_task, settings.degradation)
    patches = centre_crop_or_pad(truths, restorer.prior.patch, pad=False).copy()
    single = replace(settings, samples_per_image=1)
    y = restorer.measure(task, patches, 100)
    out: dict[str, float | str] = {"n_patches": len(patches), "diffusion_arm": FLOW_NETWORK_ARM}
    for label, method in (("flow", sampler.method), ("diffusion", "dps")):
        tic = time.perf_counter()
        chosen = replace(sampler, method=method)
        images = restorer.restore(task, y, chosen, single, 100, patches.shape[-2:])
        out[f"{label}_seconds"] = time.perf_counter() - tic
        psnrs = [image_scores(p, i, 1.0)["psnr"] for p, i in zip(patches, images, strict=True)]
        out[f"psnr_{label}"] = float(np.mean(psnrs))
    out["speedup"] = out["diffusion_seconds"] / out["flow_seconds"]
    return out


def full_slice(
    restorer,
    volume,
    settings: RestoreSettings,
    sampler,
    pixel_nm,
    em_model,
    outdir: Path,
    natural: NiqeModel | None = None,
) -> dict:
    """One full 512 x 512 slice restored with stitching: scores, seconds and a figure."""
    name = settings.full_slice_task
    task = make_task(name, settings.degradation)
    truth = volume[settings.test_slices[:1]]
    y = restorer.measure(task, truth, 200)
    tic = time.perf_counter()
    flow = restorer.restore(task, y, sampler, settings, 200, truth.shape[-2:])
    seconds = time.perf_counter() - tic
    plot_panels(
        outdir / "figures" / "full_slice.png",
        {
            "input": display_measurement(y.numpy()[0, 0], truth.shape[-2:]),
            "flow": flow[0],
            "ground truth": truth[0],
        },
        f"{name}, full slice {truth.shape[-2]} x {truth.shape[-1]} (stitched)",
    )
    return {
        "task": name,
        "seconds": seconds,
        "flow": {
            **mean_scores(truth, flow, pixel_nm),
            **no_reference_scores(flow, pixel_nm, em_model, natural),
        },
        "ground_truth": no_reference_scores(truth, pixel_nm, em_model, natural),
    }


def axial_volume(
    prior: PriorVelocity,
    volume,
    voxel_nm,
    settings: RestoreSettings,
    sampler: SamplerSettings,
    seed: int,
    device,
    em_model: NiqeModel | None,
    outdir: Path,
    natural: NiqeModel | None = None,
) -> dict:
    """Qualitative axial SR of the real anisotropic held-out volume: xz / yz figures and
    no-reference scores of the xz and yz planes (flow vs linear interpolation in z)."""
    factor = settings.axial_volume_factor
    crop = settings.axial_volume_crop
    measured = centre_crop_or_pad(volume[settings.test_slices], crop, pad=False).copy()
    depth = fine_depth(len(measured), factor)
    y = torch.from_numpy(np.ascontiguousarray(measured))[None, None]
    noise = torch.randn((1, 1, depth, *measured.shape[1:]), generator=torch_generator(seed, 300))
    if sampler.method == "dps":
        sampler = replace(sampler, method="si")
    overlap = overlap_pixels(prior.patch, settings.overlap_fraction)
    velocity = StitchedVelocity(prior, prior.patch, overlap, settings.batch_size)
    tic = time.perf_counter()
    x = axial_sample(
        velocity,
        noise.to(device),
        y.to(device),
        factor,
        sampler,
        torch_generator(seed, 301),
        settings.batch_size,
        scale=prior.scale,
    )
    seconds = time.perf_counter() - tic
    flow = x.float().cpu().numpy()[0, 0]
    ctx = Context((depth, measured.shape[2]), factor)
    linear = np.stack([linear_z(measured[:, i, :], ctx) for i in range(measured.shape[1])], axis=1)
    mid = measured.shape[1] // 2
    plot_panels(
        outdir / "figures" / "axial_volume.png",
        {
            "xz linear": linear[:, mid, :],
            "xz flow": flow[:, mid, :],
            "yz linear": linear[:, :, mid],
            "yz flow": flow[:, :, mid],
        },
        f"real volume, z x{factor} ({voxel_nm[0]:g} -> {voxel_nm[0] / factor:.2f} nm)",
    )
    z_nm = voxel_nm[0] / factor
    scores = {}
    for name, vol in (("flow", flow), ("linear", linear)):
        planes = {"xz": vol[:, mid, :], "yz": vol[:, :, mid]}
        scores[name] = {
            plane: no_reference_scores(img[None], z_nm, em_model, natural)
            for plane, img in planes.items()
        }
    return {"factor": factor, "shape": list(flow.shape), "seconds": seconds, "scores": scores}
