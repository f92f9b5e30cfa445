# Shared by every rules file: config validation, constants, wildcard constraints and generic
# helpers. A stage's own input and params functions are in rules/functions/<stage>.smk, which
# its rules file includes (`snakemake --lint` wants functions and rules in separate files).
import json
import shlex
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


wildcard_constraints:
    pdb_id="[0-9][a-z0-9]{3}",
    experiment="1d|nanocluster|protein",
    kind="phase|em|em_diffusion",
    method="flowdps|wiener|iterative|poisson_tv",
    pset=f"test|mismatch|clean|{REAL}|dose[0-9]+(\\.[0-9]+)?",
    dose="[0-9]+(\\.[0-9]+)?",


scattergather:
    flowdps=config["flowdps"]["shards"],


# Every rule's threads and resources, locally and on SLURM (config `cluster`).
include: "functions/cluster.smk"


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
    """The folder of a rule's first output (commands that write a folder take --outdir)."""
    return str(Path(output[0]).parent)


def paramspace(table: str) -> Paramspace:
    """A Paramspace over an ablation table (TSV, one column per parameter, one row per run)."""
    import pandas as pd

    path = Path(config["ablations"][table])
    if not path.is_absolute() and not path.exists():  # relative to the workflow
        path = Path(workflow.basedir) / path
    return Paramspace(pd.read_csv(path, sep="\t"), filename_params="*")


def row_overrides(grid: Paramspace, keys: dict[str, str] | None = None, **fixed):
    """A params function: this job's row of ``grid`` as ``--override KEY=VALUE ...``.

    ``keys`` maps a column to the dotted parameter it sets (default: the column's name);
    ``fixed`` adds overrides every row shares. The command checks each key against its
    stage's parameters and reads each value as YAML, so the row arrives unchanged.
    """
    keys = keys or {}

    def overrides(wildcards) -> str:
        row = {keys.get(c, c): v for c, v in grid.instance(wildcards).items()}
        pairs = [f"{k}={_override_value(v)}" for k, v in {**row, **fixed}.items()]
        return "--override " + " ".join(shlex.quote(pair) for pair in pairs)

    return overrides


def _override_value(value) -> str:
    """A table cell as the command reads it: text as it is, anything else as JSON."""
    value = value.item() if hasattr(value, "item") else value  # numpy scalars
    return value if isinstance(value, str) else json.dumps(value)
