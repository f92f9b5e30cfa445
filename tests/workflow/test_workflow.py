"""The Snakemake layer: dry-runs of every config and profile, lint, formatting, config schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import REPO, http_directory, toy_pdb_text

from flowem.config import load_config, load_schema, validate
from flowem.errors import ConfigError

# jobs of the default DAG: T20S and Hsp90 fetched, two priors, FlowDPS on the test, the
# mismatched test and the real particles with three baselines (two shards each), six
# restoration tasks, three SIP runs
JOBS = {
    "fetch_structure": 2,
    "check_structure": 1,
    "deform_structure": 1,
    "simulate_phase_maps": 1,
    "simulate_particles": 1,
    "simulate_mismatch": 1,
    "fetch_particles": 1,
    "preprocess_particles": 1,
    "fetch_em_volume": 1,
    "fetch_niqe_model": 1,
    "em_patches": 1,
    "train_prior": 2,  # phase and em; em_diffusion where supervised.in_restore
    "sample_prior": 2,
    "tune_retrieval": 4,
    "flowdps": 6,
    "gather_flowdps": 3,
    "baseline": 9,
    "evaluate_flowdps": 3,
    "restore": 1,
    "sip_fit": 3,
    "report": 1,
}
RULES = (*JOBS, "simulate_dose", "dose_curve")


def snakemake(
    *args: str, workdir: Path, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
    ]
    # a whole-DAG run takes 4 min on 2 idle cores; the limit only catches a hang
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.parametrize(
    "configfile", ["config/config.yaml", "config/paper.yaml", "config/test.yaml"]
)
def test_dry_run_of_each_config(tmp_path, configfile):
    proc = snakemake("-n", "--cores", "2", "--configfile", str(REPO / configfile), workdir=tmp_path)
    counts = job_counts(proc.stdout)
    config = load_config(REPO / "config/config.yaml", REPO / configfile)
    shards = config["flowdps"]["shards"]
    # the dose curve adds one particle set per extra dose (the default dose is the test set)
    doses = len(set(config["evaluation"]["dose_sweep"]) - {config["particles"]["dose_e_per_a2"]})
    sets = 3 + doses  # test, mismatch, real and dose sets
    assert config["particles"]["mismatch"]["kind"] != "none"  # every shipped config has it
    expected = {
        **JOBS,
        "flowdps": sets * shards,
        "gather_flowdps": sets,
        "baseline": 3 * sets,
        "evaluate_flowdps": sets,
        "simulate_dose": doses,
        "dose_curve": int(bool(config["evaluation"]["dose_sweep"])),
    }
    if config["supervised"]["in_restore"]:  # the restoration's rivals in the main table
        expected["train_supervised"] = len(config["supervised"]["tasks"])
        expected["train_prior"] = JOBS["train_prior"] + 1  # the diffusion EM prior
    else:
        expected["train_supervised"] = 0
    assert doses >= 1  # every shipped config draws the curve
    for rule, count in expected.items():
        assert counts.get(rule, 0) == count, proc.stdout


def test_restore_rivals_target_trains_every_rival(tmp_path):
    """The default profile leaves the rivals to the restore_rivals target: a supervised network
    per task and the diffusion EM prior, scored by one more restore run."""
    proc = snakemake("-n", "--cores", "2", "restore_rivals", workdir=tmp_path)
    counts = job_counts(proc.stdout)
    config = load_config(REPO / "config/config.yaml")
    assert counts["train_supervised"] == len(config["supervised"]["tasks"]) == 6
    assert counts["train_prior"] == 2  # em and em_diffusion, no phase prior
    assert counts["restore_with_rivals"] == 1 and counts.get("restore", 0) == 0


def test_paper_smoke_dry_run_runs_every_rule_at_paper_sizes(tmp_path):
    smoke = ("config/paper.yaml", "config/paper-smoke.yaml")
    proc = snakemake("-n", "--cores", "1", "--configfile", *(str(REPO / f) for f in smoke),
                     workdir=tmp_path)  # fmt: skip
    counts = job_counts(proc.stdout)
    assert all(counts.get(rule, 0) >= 1 for rule in RULES), proc.stdout
    config = load_config(REPO / "config/config.yaml", *(REPO / f for f in smoke))
    paper = load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")
    assert config["scale"] == "paper-smoke"
    for kind in ("phase", "em"):  # the paper's networks, only steps and batches cut
        assert config["prior"][kind]["train"]["network"] == paper["prior"][kind]["train"]["network"]
    assert config["prior"]["phase"]["train"]["network"]["image_size"] == 64
    assert config["prior"]["phase"]["train"]["network"]["space_to_depth"] == 1
    assert config["prior"]["em"]["train"]["network"]["image_size"] == 128
    assert config["em_patches"]["patch"] == 128 and config["phase_maps"]["bin_factor"] == 4
    assert config["real_particles"]["size_px"] == 64


def test_slurm_profile_dry_run_shows_resources(tmp_path):
    proc = snakemake(
        "-n",
        "--executor",
        "slurm",
        "--workflow-profile",
        str(REPO / "workflow/profiles/slurm"),
        "--configfile",
        str(REPO / "config/paper.yaml"),
        workdir=tmp_path,
    )
    blocks = re.split(r"^rule ", proc.stdout, flags=re.M)[1:]
    resources = {b.split(":")[0]: re.search(r"resources: (.*)", b)[1] for b in blocks}
    gpu_rules = ("train_prior", "sample_prior", "flowdps", "restore")
    for rule in RULES:
        assert f"slurm_partition={'gpu' if rule in gpu_rules else 'cpu'}" in resources[rule]
        assert re.search(r"mem_mb=\d+", resources[rule]) and re.search(
            r"runtime=\d+", resources[rule]
        )
    assert "mem_mb=4000" in resources["check_structure"]  # its CLUSTER_REQUESTS entry
    for rule in gpu_rules:
        assert re.search(r"\bgpu=\d", resources[rule])
    # prior.gpus GPUs, untyped: the type is the partition's (cluster.gpu.gpu_type, empty here)
    assert "gpu=4" in resources["train_prior"] and "gpu_model" not in resources["train_prior"]
    assert "cpus_per_task=8" in resources["train_prior"]  # = its threads on SLURM


def test_ablation_grid_expands_table_rows(tmp_path):
    proc = snakemake("-n", "--cores", "1", "ablation_structure", workdir=tmp_path)
    counts = job_counts(proc.stdout)
    table = (REPO / "config/ablations/structure.tsv").read_text().splitlines()
    assert counts["check_structure_variant"] == len(table) - 1
    assert "results/ablations/structure/pdb_id~2cg9_waters~True/summary.csv" in proc.stdout


def test_lint_is_clean():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--lint",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    snakefmt = Path(sys.executable).parent / "snakefmt"
    proc = subprocess.run(
        [str(snakefmt), "--check", "Snakefile", "workflow/rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["seed=-1"], "config key 'seed': -1 is less than the minimum of 0"),
        (["bogus=1"], "unknown config key 'bogus'"),
        (["device=tpu"], "config key 'device': 'tpu' does not match"),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, override, message):
    proc = snakemake("-n", "--cores", "1", "--config", *override, workdir=tmp_path, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert "Job stats" not in proc.stdout


def test_schema_names_nested_keys_and_fills_defaults():
    resolved = validate({"data": {"retries": 2}})
    assert resolved["data"]["retries"] == 2
    assert resolved["data"]["mirrors"] == ["../shared/data"]  # default filled in
    assert resolved["structure"]["pdb_id"] == "3J9I"
    with pytest.raises(ConfigError, match=r"config key 'data.retries': 'three' is not of type"):
        validate({"data": {"retries": "three"}})
    with pytest.raises(ConfigError, match=r"unknown config key 'structure.bfactor'"):
        validate({"structure": {"bfactor": 20}})


def test_configs_are_valid_and_paper_overrides_default():
    default = load_config(REPO / "config/config.yaml")
    paper = load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")
    assert default["scale"] == "default" and paper["scale"] == "paper"
    assert paper["structure"] == default["structure"]


def _schema_keys(schema: dict, prefix: str = "") -> list[str]:
    keys = []
    for name, sub in schema.get("properties", {}).items():
        keys.append(prefix + name)
        if sub.get("type") == "object":
            keys += _schema_keys(sub, f"{prefix}{name}.")
    return keys


def test_config_readme_documents_every_key():
    readme = (REPO / "config/README.md").read_text()
    missing = [k for k in _schema_keys(load_schema()) if f"`{k}`" not in readme]
    assert not missing, f"config/README.md lacks: {missing}"


def test_default_config_file_lists_every_key():
    """config/config.yaml spells out every key, so it doubles as a complete example."""
    default = yaml.safe_load((REPO / "config/config.yaml").read_text())
    missing = []
    for key in _schema_keys(load_schema()):
        node, present = default, True
        for part in key.split("."):
            present = isinstance(node, dict) and part in node
            if not present:
                break
            node = node[part]
        if not present:
            missing.append(key)
    assert not missing, f"config/config.yaml lacks {missing}"


def write_toy_particles(folder: Path) -> None:
    """Three noisy 48 x 48 'particles' at 2 A/px and their RELION 3.1 STAR file."""
    import starfile

    from flowem.io import write_mrc

    folder.mkdir(parents=True)
    gen = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    blob = -np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / 60.0)
    write_mrc(folder / "toy.mrcs", (blob + 0.3 * gen.normal(size=(3, 48, 48))).astype("f4"), 2.0)
    optics = pd.DataFrame(
        {
            "rlnOpticsGroup": [1],
            "rlnImagePixelSize": [2.0],
            "rlnVoltage": [300.0],
            "rlnSphericalAberration": [2.7],
            "rlnAmplitudeContrast": [0.07],
        }
    )
    particles = pd.DataFrame(
        {
            "rlnImageName": [f"{i + 1}@toy.mrcs" for i in range(3)],
            "rlnDefocusU": 15000.0,
            "rlnDefocusV": 14000.0,
            "rlnDefocusAngle": 0.0,
            "rlnOpticsGroup": 1,
        }
    )
    starfile.write({"optics": optics, "particles": particles}, folder / "toy.star")


def write_toy_em_volume(path: Path) -> None:
    """A (30, 48, 48) uint8 'EM volume' of smooth random texture, 4 x 4 x 50 nm voxels."""
    from scipy import ndimage

    from flowem.io import write_tiff

    path.parent.mkdir(parents=True)
    noise = np.random.default_rng(1).normal(size=(30, 48, 48))
    texture = ndimage.gaussian_filter(noise, (0.5, 2.0, 2.0))
    texture = (texture - texture.min()) / np.ptp(texture)
    write_tiff(path, (255 * texture).astype(np.uint8), voxel_size_nm=(50.0, 4.0, 4.0))


@pytest.mark.slow
def test_end_to_end_on_toy_structure_is_reproducible(tmp_path):
    """The whole default DAG on generated data twice: from a local mirror, offline, and with
    ``data.mirrors: []``, downloading the same files from a local HTTP server (the registry's
    RCSB URLs rewritten to it, the toy files given URLs): the same results."""
    from flowem.metrics import NiqeModel

    mirror = tmp_path / "mirror"
    (mirror / "pdb").mkdir(parents=True)
    (mirror / "pdb" / "1toy.pdb").write_text(toy_pdb_text())
    (mirror / "pdb" / "2toy.pdb").write_text(toy_pdb_text(n_residues=8))  # SIP's protein
    write_toy_particles(mirror / "particles")
    write_toy_em_volume(mirror / "em" / "toy_volume.tif")
    (mirror / "niqe").mkdir()
    natural = NiqeModel(np.linspace(0.5, 2.0, 36), np.eye(36))  # BasicSR's .npz layout
    np.savez(mirror / "niqe/toy.npz", mu_pris_param=natural.mu[None], cov_pris_param=natural.cov)
    (mirror / "rcsb").mkdir()  # where the rewritten RCSB URLs point
    for name in ("1toy", "2toy"):
        pdb = (mirror / f"pdb/{name}.pdb").read_bytes()
        (mirror / "rcsb" / f"{name.upper()}.pdb").write_bytes(pdb)
    local = ["particles/toy.mrcs", "particles/toy.star", "em/toy_volume.tif", "niqe/toy.npz"]
    toy = {
        "structure": {"pdb_id": "1TOY"},
        "sip": {"protein": {"structure": "pdb/2toy.pdb"}},
        "real_particles": {"stack": "particles/toy.mrcs", "star": "particles/toy.star"},
        "em_patches": {"volume": "em/toy_volume.tif"},
    }
    outputs = []
    with http_directory(mirror) as base:
        sources = {
            "a": {"mirrors": [str(mirror)], "allow_network": False, "niqe_model": local[-1]},
            "b": {
                "mirrors": [],
                "allow_network": True,
                "niqe_model": local[-1],
                "url_rewrites": {"https://files.rcsb.org/download/": base + "rcsb/"},
                "urls": {file_id: base + file_id for file_id in local},
            },
        }
        for run, data in sources.items():
            config = tmp_path / f"{run}.yaml"
            config.write_text(yaml.safe_dump({"data": data, **toy}))
            workdir = tmp_path / run
            snakemake(
                "--cores",
                "2",
                "--configfile",
                str(REPO / "config/test.yaml"),
                str(config),
                workdir=workdir,
            )
            results = workdir / "results"
            tasks = json.loads((results / "restore/metrics.json").read_text())["tasks"]
            summary = (results / "data/structure/summary.csv").read_bytes()
            outputs.append((summary, json.dumps(tasks, sort_keys=True)))  # NaN equal as text
            assert (results / "data/structure/config.json").is_file()
            assert (results / "logs/check_structure.log").stat().st_size > 0
            assert (results / "benchmarks/check_structure.tsv").is_file()
            # a: resources/ links to the mirror, nothing copied; b: downloaded, no mirror
            for file_id in ("pdb/1toy.pdb", *local):
                cached = workdir / "resources" / file_id
                assert cached.is_symlink() == (run == "a"), file_id
                assert cached.read_bytes() == (mirror / file_id).read_bytes(), file_id
    assert outputs[0] == outputs[1]
    again = snakemake(
        "--cores",
        "1",
        "--configfile",
        str(REPO / "config/test.yaml"),
        str(tmp_path / "a.yaml"),
        workdir=tmp_path / "a",
    )
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_paper_smoke_trains_both_priors_and_samples_at_paper_sizes(tmp_path):
    """``config/paper-smoke.yaml`` at work: the paper's 37 M-parameter phase U-Net on 64 x 64
    maps at 5.24 A/px and the 77 M-parameter EM U-Net on 128 px patches train, and FlowDPS
    samples 64 x 64 particles with the phase prior (steps cut; the whole DAG: `make smoke`)."""
    from scipy import ndimage

    from flowem.io import write_tiff
    from flowem.prior.checkpoint import load_prior_model

    mirror = tmp_path / "mirror"
    (mirror / "pdb").mkdir(parents=True)
    (mirror / "pdb" / "1toy.pdb").write_text(toy_pdb_text())
    write_toy_particles(mirror / "particles")
    (mirror / "em").mkdir()
    texture = ndimage.gaussian_filter(np.random.default_rng(2).normal(size=(30, 160, 160)), 2.0)
    texture = (texture - texture.min()) / np.ptp(texture)
    write_tiff(mirror / "em/toy.tif", (255 * texture).astype(np.uint8), voxel_size_nm=(50, 4, 4))
    config = tmp_path / "mirror.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": {"mirrors": [str(mirror)], "allow_network": False},
                "structure": {"pdb_id": "1TOY"},
                "real_particles": {"stack": "particles/toy.mrcs", "star": "particles/toy.star"},
                "em_patches": {"volume": "em/toy.tif"},
            }
        )
    )
    smoke = [str(REPO / f) for f in ("config/paper.yaml", "config/paper-smoke.yaml")]
    targets = [f"results/prior/{kind}/model.pt" for kind in ("phase", "em")]
    targets.append("results/flowdps/test/shards/1-of-2.npz")
    snakemake(*targets, "--cores", "2", "--configfile", *smoke, str(config), workdir=tmp_path)
    paper = load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")
    for kind, size in (("phase", 64), ("em", 128)):
        net, _, _ = load_prior_model(tmp_path / f"results/prior/{kind}/model.pt")
        expected = paper["prior"][kind]["train"]["network"]
        assert net.config.image_size == size
        assert list(net.config.block_out_channels) == expected["block_out_channels"]
        assert sum(p.numel() for p in net.parameters()) > 30e6
    shard = np.load(tmp_path / "results/flowdps/test/shards/1-of-2.npz", allow_pickle=True)
    assert shard["mean"].shape[1:] == (64, 64) and np.isfinite(shard["mean"]).all()
    particles = pd.read_csv(tmp_path / "results/data/particles/test.csv")
    assert np.allclose(particles.pixel_size_a, 5.24)


def test_specimen_ablation_images_the_test_particles_ideally(tmp_path):
    """``ablation_specimen``: the test particles again with the imaging realism off (no ice
    background, detector MTF or envelope; the maps keep their solvent, the prior's domain),
    evaluated like every particle set, while the default set keeps every switch on."""
    proc = snakemake("-n", "-p", "--cores", "1", "ablation_specimen", workdir=tmp_path)
    commands = [line for line in proc.stdout.splitlines() if "simulate-particles" in line]
    clean = next(c for c in commands if "particles/clean" in c)
    default = next(c for c in commands if "particles/clean" not in c)
    for switch in ("ice_background", "detector_mtf"):
        assert f'"{switch}": false' in clean and f'"{switch}": true' in default
    assert '"solvent": true' in clean and '"b_envelope_a2": 0.0' in clean
    assert job_counts(proc.stdout)["evaluate_flowdps"] == 1
