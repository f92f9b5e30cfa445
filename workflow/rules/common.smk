# Shared by every rules file: config validation, paths, input functions, wildcard constraints.
import json
import sys
from pathlib import Path

from snakemake.utils import Paramspace
from snakemake_interface_executor_plugins.settings import DeploymentMethod

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from flowem.config import validate as validate_config  # noqa: E402

# Rules run `python -m flowem <command>`. The prefix puts src/ on PYTHONPATH (for the
# conda environments of envs/, which do not install the package) and, without conda, the
# Python that runs Snakemake first on PATH (the project's .venv under `make run`).
# Cluster jobs parse this file again, so they get the same prefix.
SRC = Path(workflow.basedir) / "src"
_ON_PATH = (
    ""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else f"export PATH={Path(sys.executable).parent}:$PATH; "
)
# (the prefix is formatted like a shell command, hence the doubled braces)
shell.prefix(
    "set -euo pipefail; export PYTHONPATH="
    + str(SRC)
    + "${{PYTHONPATH:+:$PYTHONPATH}}; "
    + _ON_PATH
)

config.update(validate_config(config))

RESULTS = "results"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
PDB_ID = config["structure"]["pdb_id"].lower()
REAL = config["real_particles"]["name"]
CACHE = config["data"]["cache_dir"]
EM_VOLUME = f"{CACHE}/{config['em_patches']['volume']}"
#: keys of phase_maps that simulate_particles needs to re-make the same maps at full size
GEOMETRY_KEYS = (
    "size_px",
    "pixel_size_a",
    "bin_factor",
    "voltage_kv",
    "b_factor_a2",
    "pad_factor",
)


wildcard_constraints:
    pdb_id="[0-9][a-z0-9]{3}",
    experiment="1d|nanocluster|protein",
    kind="phase|em",
    method="flowdps|wiener|iterative|poisson_tv",
    pset=f"test|{REAL}|dose[0-9]+(\\.[0-9]+)?",
    dose="[0-9]+(\\.[0-9]+)?",


scattergather:
    flowdps=config["flowdps"]["shards"],


def stage_params(*keys: str, **extra) -> str:
    """The config sections ``keys`` (merged, plus ``extra``) as JSON for a command's --params."""
    params = {}
    for key in keys:
        params.update(config[key])
    params.update(extra)
    return json.dumps(params, sort_keys=True, default=_plain)


def _plain(value):
    """numpy/pandas scalars (Paramspace values) as plain Python values."""
    return value.item() if hasattr(value, "item") else str(value)


def fetch_params() -> str:
    return stage_params("data")


def output_folder(wildcards, output) -> str:
    """The folder of a rule's first output (commands take --out-dir)."""
    return str(Path(output[0]).parent)


def structure_options() -> dict:
    return {k: config["structure"][k] for k in ("hydrogens", "waters")}


def phase_map_params() -> str:
    return stage_params("phase_maps", **structure_options())


def particle_params(**overrides) -> str:
    geometry = {k: config["phase_maps"][k] for k in GEOMETRY_KEYS}
    return stage_params("particles", **geometry, **structure_options(), **overrides)


def real_particle_ids() -> str:
    return f"{config['real_particles']['stack']} {config['real_particles']['star']}"


def real_particle_params() -> str:
    keep = (
        "size_px",
        "pixel_size_a",
        "downsample",
        "dose_e_per_a2",
        "invert_contrast",
        "background_radius",
        "max_particles",
    )
    params = {k: config["real_particles"][k] for k in keep}
    return json.dumps({**params, "source": REAL}, sort_keys=True)


def structure_params() -> str:
    return stage_params("structure")


def paramspace(table: str) -> Paramspace:
    """A Paramspace over an ablation table (TSV, one column per parameter, one row per run)."""
    import pandas as pd

    path = Path(config["ablations"][table])
    if not path.is_absolute() and not path.exists():  # relative to the workflow
        path = Path(workflow.basedir) / path
    return Paramspace(pd.read_csv(path, sep="\t"), filename_params="*")


STRUCTURE_GRID = paramspace("structure")


def structure_variant_params(wildcards) -> str:
    return stage_params("structure", **STRUCTURE_GRID.instance(wildcards))


def structure_variant_input(wildcards) -> str:
    return f"{CACHE}/pdb/{STRUCTURE_GRID.instance(wildcards)['pdb_id'].lower()}.pdb"


def sip_params(wildcards) -> str:
    return json.dumps(config["sip"][wildcards.experiment], sort_keys=True)


def sip_structure(wildcards) -> list[str]:
    """The protein experiment reads its structure through the fetch rule."""
    if wildcards.experiment != "protein":
        return []
    return [f"{CACHE}/{config['sip']['protein']['structure']}"]


def sip_structure_option(wildcards, input) -> str:
    return f"--structure {input.structure[0]}" if input.structure else ""


def sip_outdir(wildcards, output) -> str:
    return str(Path(output.metrics).parent)


PRIOR_DATA = {
    "phase": f"{RESULTS}/data/phase_maps/{{split}}.mrcs",
    "em": f"{RESULTS}/data/em_patches/{{split}}.mrcs",
}


def prior_training_data(wildcards) -> str:
    return PRIOR_DATA[wildcards.kind].format(split="train")


def prior_validation_data(wildcards) -> str:
    """Held-out images: never trained on, never used by the later stages."""
    return PRIOR_DATA[wildcards.kind].format(
        split="heldout" if wildcards.kind == "phase" else "val"
    )


def prior_train_params(wildcards) -> str:
    return json.dumps(config["prior"][wildcards.kind]["train"], sort_keys=True)


def prior_sample_params(wildcards) -> str:
    return json.dumps(config["prior"][wildcards.kind]["sample"], sort_keys=True)


def prior_checkpoint(wildcards, output) -> str:
    """Training state beside the model; not an output, so Snakemake never deletes it."""
    return str(Path(output.model).parent / "checkpoint" / "last.pt")


def prior_launcher() -> str:
    """One process, or DDP through torchrun with one process per GPU."""
    gpus = config["prior"]["gpus"]
    if gpus == 1:
        return "python -m flowem train-prior"
    return f"torchrun --standalone --nproc_per_node {gpus} -m flowem.prior.train"


def em_patch_params() -> str:
    """The patch settings; the volume itself arrives as the rule's input."""
    params = {k: v for k, v in config["em_patches"].items() if k != "volume"}
    return json.dumps(params, sort_keys=True)


def restore_params() -> str:
    return stage_params("restore")


def restore_outdir(wildcards, output) -> str:
    return str(Path(output.metrics).parent)


RESTORE_GRID = paramspace("restore")


def restore_variant_params(wildcards) -> str:
    """The restore section with this row's sampler settings (sampler, alpha, lr, eta)."""
    row = {k: _plain(v) for k, v in RESTORE_GRID.instance(wildcards).items()}
    if "sampler" in row:  # the column cannot be called `method` (a global wildcard)
        row["method"] = row.pop("sampler")
    section = json.loads(restore_params())
    section["sampler"] = {**section["sampler"], **row}
    section["task_lr"] = {}  # the row's lr applies to every task
    section["tune"] = {}  # and is not re-tuned
    return json.dumps(section, sort_keys=True)


def dose_set(dose: float) -> str:
    """The particle set of the test particles simulated again at ``dose``."""
    return "test" if dose == config["particles"]["dose_e_per_a2"] else f"dose{dose:g}"


def dose_sets() -> dict[float, str]:
    """Dose -> particle set of the dose curve (the default dose is the test set itself)."""
    doses = [*config["evaluation"]["dose_sweep"], config["particles"]["dose_e_per_a2"]]
    return {float(d): dose_set(float(d)) for d in sorted(set(doses))}


def dose_particle_params(wildcards) -> str:
    """simulate_particles' parameters for the test split alone at the wildcard's dose."""
    return particle_params(splits=["test"], dose_e_per_a2=float(wildcards.dose))


def dose_curve_sets(wildcards, input) -> str:
    return " ".join(
        f"--set {dose:g}={path}" for dose, path in zip(dose_sets(), input.metrics)
    )


def particle_set_inputs(wildcards) -> dict[str, str]:
    """Counts, table (and ground truth) of a particle set: ``test``, a dose set or the real
    set."""
    if wildcards.pset == "test" or wildcards.pset.startswith("dose"):
        folder = f"{RESULTS}/data/particles"
        if wildcards.pset != "test":
            folder = f"{folder}/{wildcards.pset}"
        return {
            "counts": f"{folder}/test_counts.mrcs",
            "table": f"{folder}/test.csv",
            "truth": f"{folder}/test_phase.mrcs",
        }
    folder = f"{RESULTS}/data/real_particles/{wildcards.pset}"
    return {"counts": f"{folder}/counts.mrcs", "table": f"{folder}/particles.csv"}


def tuning_inputs(wildcards) -> dict[str, str]:
    """Validation particles (and the prior for FlowDPS)."""
    folder = f"{RESULTS}/data/particles"
    inputs = {
        "counts": f"{folder}/val_counts.mrcs",
        "table": f"{folder}/val.csv",
        "truth": f"{folder}/val_phase.mrcs",
    }
    if wildcards.method == "flowdps":
        inputs["model"] = f"{RESULTS}/prior/phase/model.pt"
    return inputs


def method_config(method: str) -> dict:
    return config["flowdps"] if method == "flowdps" else config["baselines"][method]


def tuning_params(wildcards) -> str:
    return json.dumps(
        {
            "base": method_config(wildcards.method),
            "grid": config["tuning"]["grids"].get(wildcards.method, {}),
            "budget": config["tuning"]["budget"],
        },
        sort_keys=True,
    )


def tuning_model_option(wildcards, input) -> str:
    return f"--model {input.model}" if wildcards.method == "flowdps" else ""


def flowdps_params() -> str:
    return stage_params("flowdps")


def baseline_params(wildcards) -> str:
    return json.dumps(method_config(wildcards.method), sort_keys=True)


def shard_number(wildcards) -> int:
    """Snakemake's scatter items read '<i>-of-<n>'."""
    return int(wildcards.scatteritem.split("-of-")[0])


def working_pixel_size() -> float:
    return config["phase_maps"]["pixel_size_a"] * config["phase_maps"]["bin_factor"]


def method_folders(pset: str) -> dict[str, str]:
    methods = ["flowdps", *config["baselines"]["methods"]]
    return {m: f"{RESULTS}/flowdps/{pset}/{m}" for m in methods}


def method_results(wildcards) -> list[str]:
    return [
        f"{folder}/{'mean' if name == 'flowdps' else 'phase'}.mrcs"
        for name, folder in method_folders(wildcards.pset).items()
    ]


def method_options(wildcards) -> str:
    return " ".join(
        f"--method {n}={f}" for n, f in method_folders(wildcards.pset).items()
    )


def truth_option(wildcards, input) -> str:
    return f"--truth {input.truth}" if "truth" in input.keys() else ""


FLOWDPS_GRID = paramspace("flowdps")


def flowdps_variant_row(wildcards) -> str:
    """This row's FlowDPS settings, applied after the tuned ones, in one shard."""
    row = {k: _plain(v) for k, v in FLOWDPS_GRID.instance(wildcards).items()}
    if row.get("step_size") == "tuned":  # keep the step size chosen on validation
        del row["step_size"]
    elif "step_size" in row:
        row["step_size"] = float(row["step_size"])
    if row.get("stochasticity") not in (None, "flowdps"):
        row["stochasticity"] = float(row["stochasticity"])
    return json.dumps({**row, "shards": 1}, sort_keys=True)


def evaluation_params() -> str:
    return stage_params("evaluation", prior_molecule=config["structure"]["pdb_id"])


def flowdps_targets() -> list[str]:
    targets = [f"{RESULTS}/flowdps/test/metrics.json"]
    if config["evaluation"]["dose_sweep"]:
        targets.append(f"{RESULTS}/flowdps/dose/metrics.json")
    if config["real_particles"]["enabled"]:
        targets.append(f"{RESULTS}/flowdps/{REAL}/metrics.json")
    return targets


def report_params() -> str:
    return stage_params("report", scale=config["scale"], config=config)


def results_root(wildcards, output) -> str:
    """The results folder, from the report page's path (results/report/index.html)."""
    return str(Path(output.page).parents[1])


def real_particle_targets() -> list[str]:
    if not config["real_particles"]["enabled"]:
        return []
    return [f"{RESULTS}/data/real_particles/{REAL}/montage.png"]


def stage_targets() -> list[str]:
    """Every stage's final outputs (what the report summarises)."""
    return [
        f"{RESULTS}/data/structure/model.pdb",
        f"{RESULTS}/data/structure/summary.csv",
        f"{RESULTS}/data/phase_maps/montage.png",
        f"{RESULTS}/data/particles/montage.png",
        *real_particle_targets(),
        *expand(f"{RESULTS}/prior/{{kind}}/metrics.json", kind=["phase", "em"]),
        f"{RESULTS}/restore/metrics.json",
        *flowdps_targets(),
        *expand(
            f"{RESULTS}/sip/{{experiment}}/metrics.json",
            experiment=config["sip"]["experiments"],
        ),
    ]


def all_targets() -> list[str]:
    """What a plain `snakemake` builds: every stage's outputs and the report page."""
    return [*stage_targets(), f"{RESULTS}/report/index.html"]
