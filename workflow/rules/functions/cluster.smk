# What each rule asks of a cluster node, and how config `cluster` turns that into the SLURM
# executor plugin's resources. Every command-running rule takes `cluster_threads` as its
# threads and `**CLUSTER_RESOURCES` as its resources.
# - local runs (and their dry runs): 1 thread, the table's mem_mb and runtime, `gpu` on GPU
#   rules (for `--resources gpu=N`), nothing SLURM-specific; config `cluster` is not read;
# - SLURM (`--executor slurm`, its jobs and its dry runs): the rule's partition
#   (cluster.cpu or cluster.gpu; GPU rules on cluster.cpu with no GPU under
#   `cluster.gpu_rules: cpu`), account, CPUs = threads = cpus_per_task, memory, runtime and
#   GPUs, each checked against the partition's limits first: a request over a limit stops the
#   run before anything is submitted, naming the rule, the request and the limit, or, under
#   `cluster.over_limit: clip`, is cut to the limit. GPU counts are never cut (train_prior
#   starts one DDP process per GPU of `prior.gpus`).
# Overrides: `--set-threads RULE=N` (cpus_per_task follows), `--set-resources RULE:mem_mb=M`.
# The check runs in `onstart` (this file's; a workflow has one), before the first submission.
import dataclasses
import subprocess

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger


@dataclasses.dataclass(frozen=True)
class Request:
    """What one job asks of a cluster node: CPUs (its threads there), memory (MB), runtime
    (minutes) and GPUs (0: a CPU rule)."""

    cpus: int
    mem_mb: int
    runtime: int
    gpus: int = 0


# mem_mb: the peak RSS (`max_rss`) of `make smoke` (config/paper-smoke.yaml: the paper's image
# and network sizes on a CPU, 2026-12-02) plus the paper's counts held in memory and ~3 GB of
# CUDA runtime on GPU rules, times ~1.5; rules under 1.2 GB keep 4 GB or what they need.
CLUSTER_REQUESTS = {
    "fetch_structure": Request(cpus=1, mem_mb=500, runtime=30),
    "check_structure": Request(cpus=1, mem_mb=4000, runtime=10),
    "check_structure_variant": Request(cpus=1, mem_mb=4000, runtime=10),
    # smoke 0.73 GB + 22,700 maps of 64 x 64 (0.4 GB)
    "simulate_phase_maps": Request(cpus=8, mem_mb=4000, runtime=120),
    "simulate_particles": Request(cpus=4, mem_mb=4000, runtime=60),
    "simulate_dose": Request(cpus=1, mem_mb=4000, runtime=60),
    "simulate_mismatch": Request(cpus=1, mem_mb=4000, runtime=60),
    "simulate_clean": Request(cpus=1, mem_mb=4000, runtime=60),
    "deform_structure": Request(cpus=1, mem_mb=4000, runtime=30),
    "fetch_particles": Request(cpus=1, mem_mb=500, runtime=120),
    "preprocess_particles": Request(cpus=1, mem_mb=2000, runtime=30),
    "calibrate_background": Request(cpus=1, mem_mb=4000, runtime=30),
    # 4 DDP processes x (smoke 3.7 GB, EM U-Net + ~3 GB CUDA runtime)
    "train_prior": Request(
        cpus=8, mem_mb=32000, runtime=2880, gpus=config["prior"]["gpus"]
    ),
    # smoke 1.6 GB + CUDA runtime
    "sample_prior": Request(cpus=4, mem_mb=8000, runtime=120, gpus=1),
    "tune_retrieval": Request(cpus=1, mem_mb=4000, runtime=120),
    # smoke 0.9 GB + CUDA runtime; one process, no --threads
    "flowdps": Request(cpus=1, mem_mb=6000, runtime=240, gpus=1),
    "gather_flowdps": Request(cpus=1, mem_mb=2000, runtime=10),
    "baseline": Request(cpus=1, mem_mb=4000, runtime=240),
    "evaluate_flowdps": Request(cpus=1, mem_mb=4000, runtime=30),
    "dose_curve": Request(cpus=1, mem_mb=1000, runtime=10),
    "flowdps_variant": Request(cpus=1, mem_mb=6000, runtime=240, gpus=1),
    "fetch_em_volume": Request(cpus=1, mem_mb=500, runtime=30),
    "fetch_niqe_model": Request(cpus=1, mem_mb=500, runtime=15),
    # 61,000 patches of 128 x 128 float32 (4 GB) held before writing
    "em_patches": Request(cpus=1, mem_mb=8000, runtime=10),
    # smoke 1.7 GB + CUDA runtime + the paper's 512 px slices and 10 samples
    "restore": Request(cpus=8, mem_mb=8000, runtime=480, gpus=1),
    "restore_variant": Request(cpus=8, mem_mb=8000, runtime=480, gpus=1),
    "restore_with_rivals": Request(cpus=8, mem_mb=8000, runtime=480, gpus=1),
    # one user image (flowem restore-image): restore's sampler on a single measurement
    "restore_image": Request(cpus=4, mem_mb=8000, runtime=60, gpus=1),
    # the generalist prior (rules/generalist.smk): the corpus (~0.3 GB of sections + the
    # paper's 60,000 patches of 128 px, 4 GB), train_prior's EM U-Net, restore's sampler
    "em_corpus": Request(cpus=1, mem_mb=8000, runtime=20),
    "train_generalist": Request(
        cpus=8, mem_mb=32000, runtime=2880, gpus=config["prior"]["gpus"]
    ),
    "evaluate_generalist": Request(cpus=8, mem_mb=8000, runtime=480, gpus=1),
    "generalist_table": Request(cpus=1, mem_mb=1000, runtime=5),
    "generalist_loo_table": Request(cpus=1, mem_mb=1000, runtime=5),
    # one process of train_prior's EM U-Net: smoke 3.7 GB + CUDA runtime
    "train_supervised": Request(cpus=4, mem_mb=10000, runtime=1440, gpus=1),
    # kept: the smoke runs SIP at cut counts (0.6 GB), not at the paper's
    "sip_fit": Request(cpus=4, mem_mb=16000, runtime=1440),
    "sip_summary": Request(cpus=1, mem_mb=1000, runtime=5),
    "report": Request(cpus=1, mem_mb=2000, runtime=10),
}
#: the Snakemake executors whose jobs the cluster section sizes (the plugin and its job steps)
SLURM_EXECUTORS = ("slurm", "slurm-jobstep")
#: the limits a request is checked against (keys of Request and of cluster.cpu/gpu), in words
LIMITS = {"cpus": "CPUs", "mem_mb": "MB of memory", "runtime": "minutes of runtime"}


def on_cluster() -> bool:
    """Whether this run sizes jobs for SLURM: the slurm executor and the job steps it starts,
    and a dry run of either (Snakemake validates a dry run against the named executor and, for
    a remote one, runs it in threads; a local dry run does not)."""
    plugin = workflow.executor_plugin
    if plugin is None:  # not executing (lint, parse)
        return False
    if plugin.name in ("dryrun", "touch"):
        return bool(workflow.execution_settings.use_threads)
    return plugin.name in SLURM_EXECUTORS


def is_dry_run() -> bool:
    plugin = workflow.executor_plugin
    return plugin is not None and plugin.name in ("dryrun", "touch")


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where one rule's jobs go and what they ask for there."""

    partition: str
    cpus: int
    mem_mb: int
    runtime: int
    gpus: int
    gpu_type: str


def place(rulename: str, cluster: dict) -> tuple[Placement, list[str]]:
    """The rule's placement under ``cluster`` and, one line each, its requests over the
    partition's limits (cut to the limit in the placement)."""
    request = CLUSTER_REQUESTS[rulename]
    role = "gpu" if request.gpus and cluster["gpu_rules"] == "gpu" else "cpu"
    limits = cluster[role]
    asked = dataclasses.asdict(request)
    over = []
    for key, what in LIMITS.items():
        if asked[key] > limits[key]:
            over.append(
                f"rule {rulename} requests {asked[key]} {what}, more than partition "
                f"'{limits['partition']}' allows (cluster.{role}.{key} = {limits[key]})"
            )
            asked[key] = limits[key]
    gpus = request.gpus if role == "gpu" else 0
    placement = Placement(
        partition=limits["partition"],
        cpus=asked["cpus"],
        mem_mb=asked["mem_mb"],
        runtime=asked["runtime"],
        gpus=gpus,
        gpu_type=limits["gpu_type"] if gpus else "",
    )
    return placement, over


def gpu_overs(placements: dict, cluster: dict) -> list[str]:
    """GPU requests over cluster.gpu.gpus: never cut (train_prior runs one DDP process per
    GPU of prior.gpus), so always a stop."""
    limit = cluster["gpu"]["gpus"]
    return [
        f"rule {rule} requests {p.gpus} GPUs, more than partition '{p.partition}' allows "
        f"(cluster.gpu.gpus = {limit})"
        + ("; lower prior.gpus" if rule == "train_prior" else "")
        for rule, p in placements.items()
        if p.gpus > limit
    ]


def check_partitions(cluster: dict) -> list[str]:
    """Partitions named in ``cluster`` that `sinfo` does not list, and a GPU partition without
    GPUs (its GRES), as lines; nothing when sinfo cannot be asked."""
    try:
        listing = subprocess.run(
            ["sinfo", "--noheader", "--format=%P|%G"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gres = {}
    for line in listing.splitlines():
        name, _, resources = line.partition("|")
        gres.setdefault(name.rstrip("*"), set()).add(resources.strip())
    roles = ["cpu"] + (["gpu"] if cluster["gpu_rules"] == "gpu" else [])
    problems = [
        f"cluster.{role}.partition: SLURM has no partition '{cluster[role]['partition']}' "
        f"(sinfo lists {', '.join(sorted(gres)) or 'none'})"
        for role in roles
        if cluster[role]["partition"] not in gres
    ]
    gpu = cluster["gpu"]["partition"]
    if "gpu" in roles and gpu in gres and not any("gpu" in g for g in gres[gpu]):
        problems.append(
            f"cluster.gpu.partition: partition '{gpu}' has no GPUs (sinfo GRES "
            f"{', '.join(sorted(gres[gpu]))}); set cluster.gpu_rules: cpu to run the GPU "
            "rules on CPU nodes"
        )
    return problems


_PLAN = {}


def cluster_plan() -> dict:
    """Every rule's placement, made once per run (at its start, or in a dry run on the first
    job sized): on SLURM, every request checked against its partition before any job is
    submitted (an error listing each request over a limit, or a warning listing each request
    cut under over_limit: clip), the partitions checked against sinfo, and the plugin's status
    command set from cluster.status_command."""
    if "placements" in _PLAN:
        return _PLAN["placements"]
    cluster = config["cluster"]
    placements, over = {}, []
    for name in CLUSTER_REQUESTS:
        placements[name], rule_over = place(name, cluster)
        over += rule_over
    if on_cluster():
        stops = gpu_overs(placements, cluster)
        if cluster["over_limit"] == "stop":
            stops += over
        elif over:
            cut = "\n  ".join(over)
            logger.warning(
                f"cluster.over_limit is clip, so each cut to the limit:\n  {cut}"
            )
        main = workflow.executor_plugin.name == "slurm"
        if main:
            stops += check_partitions(cluster)
        if stops:
            listed = "\n  ".join(stops)
            raise WorkflowError(
                f"config `cluster` cannot run this workflow (nothing was submitted):\n  {listed}\n"
                "Raise the partition's limit in config `cluster`, lower the request "
                "(--set-resources RULE:mem_mb=M, --set-threads RULE=N) or set "
                "cluster.over_limit: clip (CPUs, memory and runtime only)."
            )
        if main:  # the plugin asks SLURM for job states with this command
            workflow.executor_settings.status_command = cluster["status_command"]
    _PLAN["placements"] = placements
    return placements


def request_of(rulename: str) -> Request:
    if rulename not in CLUSTER_REQUESTS:
        raise WorkflowError(
            f"{rulename} has no entry in CLUSTER_REQUESTS "
            "(workflow/rules/functions/cluster.smk): add what it asks of a cluster node"
        )
    return CLUSTER_REQUESTS[rulename]


def placement_of(rulename: str) -> Placement:
    request_of(rulename)
    return cluster_plan()[rulename]


def cluster_threads(wildcards, rulename) -> int:
    """1 locally (a laptop runs jobs side by side); on SLURM the rule's CPUs."""
    return placement_of(rulename).cpus if on_cluster() else 1


def _slurm_only(value):
    """A resource function: ``value(placement)`` on SLURM, unset (None) locally."""

    def resource(wildcards, rulename):
        return value(placement_of(rulename)) if on_cluster() else None

    return resource


def _cpus_per_task(wildcards, threads, rulename):
    """The job's threads, so that the CPUs SLURM allocates are the threads it runs; in a dry
    run, whose threads are capped by its --cores 1, the CPUs the real run will ask for.
    """
    if not on_cluster():
        return None
    if is_dry_run() and rulename not in workflow.resource_settings.overwrite_threads:
        return placement_of(rulename).cpus
    return threads


def _local_or_placed(field: str):
    """The table's request locally, the placement (clipped) on SLURM."""

    def resource(wildcards, rulename):
        if on_cluster():
            return getattr(placement_of(rulename), field)
        return getattr(request_of(rulename), field)

    return resource


def _gpu(wildcards, rulename):
    """GPUs: the placement's on SLURM (none under gpu_rules: cpu), the request locally (for
    --resources gpu=N); unset when none."""
    placed = placement_of(rulename) if on_cluster() else request_of(rulename)
    return placed.gpus or None


CLUSTER_RESOURCES = {
    "mem_mb": _local_or_placed("mem_mb"),
    "runtime": _local_or_placed("runtime"),
    "gpu": _gpu,
    "gpu_model": _slurm_only(lambda p: p.gpu_type or None),
    "slurm_partition": _slurm_only(lambda p: p.partition),
    "slurm_account": _slurm_only(lambda p: config["cluster"]["account"] or None),
    "cpus_per_task": _cpus_per_task,
}


# A real run's check before its first job is scheduled (a dry run's, while its jobs are listed).
onstart:
    cluster_plan()
