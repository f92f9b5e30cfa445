"""The SLURM layer: every request checked against config `cluster` (dry runs, no daemons), and a
real single-node SLURM 22.05 (Debian's slurm-wlm and munge; slurmctld and slurmd on localhost,
partitions `cpu` and `gpu` with one fake GPU, no accounting) running the phase prior's chain
through the shipped profile with only the cluster section set, compared with a local run.
slurm-wlm and munge are installed by install_slurm.sh when missing; the test starts and stops
its own daemons."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import REPO, toy_pdb_text
from tests.workflow.test_workflow import snakemake

from flowem.io import read_mrc

INSTALL = Path(__file__).with_name("install_slurm.sh")
PROFILE = REPO / "workflow/profiles/slurm"
GPU_RULES = (
    "train_prior",
    "sample_prior",
    "flowdps",
    "flowdps_variant",
    "restore",
    "restore_variant",
    "restore_with_rivals",
    "restore_image",
    "train_supervised",
)
#: the phase prior's chain: fetch, check, simulate, train (GPU rule), sample (GPU rule)
TARGET = "results/prior/phase/metrics.json"
CHAIN = {"fetch_structure", "check_structure", "simulate_phase_maps", "train_prior", "sample_prior"}
#: relative tolerance of SLURM against local outputs: SLURM runs the multi-threaded rules with
#: 2 threads (their requests cut to the node's 2 CPUs), the local run with 1
RTOL = 1e-4


def run_with_cluster(tmp_path: Path, cluster: dict, *args: str, **kwargs):
    """config/test.yaml through the SLURM profile with ``cluster`` as the cluster section."""
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump({"cluster": cluster}))
    configs = ("--configfile", str(REPO / "config/test.yaml"), str(config))
    return snakemake(
        "--workflow-profile", str(PROFILE), *configs, *args, workdir=tmp_path, **kwargs
    )


def slurm_dry_run(tmp_path: Path, cluster: dict, *args: str, check: bool = True):
    return run_with_cluster(tmp_path, cluster, "-n", *args, check=check)


def job_resources(output: str) -> dict[str, list[str]]:
    """rule -> the resources line of each of its jobs in a dry run's output."""
    jobs: dict[str, list[str]] = {}
    for block in re.split(r"^rule ", output, flags=re.M)[1:]:
        found = re.search(r"^\s+resources: (.*)$", block, re.M)
        if found:
            jobs.setdefault(block.split(":")[0], []).append(found[1])
    return jobs


def cluster_requests() -> dict[str, dict[str, int]]:
    """CLUSTER_REQUESTS of workflow/rules/functions/cluster.smk, read from its text."""
    text = (REPO / "workflow/rules/functions/cluster.smk").read_text()
    table = {}
    for rule, fields in re.findall(r'"(\w+)": Request\(\s*([^)]*)\)', text):
        values = dict(re.findall(r"(\w+)=(\d+)", fields))
        table[rule] = {k: int(v) for k, v in values.items()}
    return table


def test_every_rule_with_a_command_has_a_cluster_request(tmp_path):
    rules = set(snakemake("--list-rules", workdir=tmp_path).stdout.split())
    targets = {
        "all",
        "ablation_structure",
        "ablation_restore",
        "ablation_flowdps",
        "ablation_specimen",
        "restore_rivals",
        "generalist",
        "generalist_loo",
    }
    assert rules - targets == set(cluster_requests()), "CLUSTER_REQUESTS and the rules differ"


def test_a_request_over_its_partition_stops_before_submission(tmp_path):
    cluster = {"cpu": {"cpus": 2, "mem_mb": 3000}, "gpu": {"gpus": 1, "mem_mb": 3000}}
    proc = slurm_dry_run(tmp_path, cluster, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config `cluster` cannot run this workflow (nothing was submitted)" in out
    limit = "more than partition 'cpu' allows (cluster.cpu.cpus = 2)"
    assert f"rule simulate_phase_maps requests 8 CPUs, {limit}" in out
    assert (
        "rule em_patches requests 8000 MB of memory, more than partition 'cpu' allows "
        "(cluster.cpu.mem_mb = 3000)" in out
    )
    assert "rule train_prior requests 32000 MB of memory, more than partition 'gpu'" in out
    assert "rule fetch_structure requests" not in out  # 1 CPU, 500 MB: within both limits
    assert "Shell command" not in out  # no job is shown as if it would run


def test_a_gpu_count_over_the_partition_always_stops(tmp_path):
    proc = slurm_dry_run(tmp_path, {"gpu": {"gpus": 0}, "over_limit": "clip"}, check=False)
    assert proc.returncode != 0
    assert (
        "rule sample_prior requests 1 GPUs, more than partition 'gpu' allows "
        "(cluster.gpu.gpus = 0)" in proc.stdout + proc.stderr
    )


def test_clip_cuts_requests_to_the_limits_and_cpus_follow(tmp_path):
    cluster = {
        "cpu": {"cpus": 2, "mem_mb": 3000, "runtime": 20},
        "gpu": {"cpus": 3, "mem_mb": 5000, "gpus": 1, "gpu_type": "a100"},
        "over_limit": "clip",
        "account": "lab42",
    }
    proc = slurm_dry_run(tmp_path, cluster, "--set-threads", "sip_fit=1")
    assert "cluster.over_limit is clip" in proc.stdout + proc.stderr
    jobs = job_resources(proc.stdout)
    requests = cluster_requests()
    for rule, lines in jobs.items():
        if rule == "all":  # a target, run by no job
            continue
        gpu = rule in GPU_RULES
        limits = cluster["gpu" if gpu else "cpu"]
        cpus = 1 if rule == "sip_fit" else min(requests[rule]["cpus"], limits["cpus"])
        for line in lines:
            assert f"slurm_partition={'gpu' if gpu else 'cpu'}" in line, (rule, line)
            assert f"cpus_per_task={cpus}," in line, (rule, line)
            mem = min(requests[rule]["mem_mb"], limits["mem_mb"])
            assert f"mem_mb={mem}," in line, (rule, line)
            assert "slurm_account=lab42" in line
            assert ("gpu=1," in line and "gpu_model=a100" in line) == gpu, (rule, line)
    assert "runtime=20," in jobs["sip_fit"][0]  # 1440 min cut to the cpu partition's 20
    assert {"simulate_phase_maps", "train_prior", "sample_prior", "restore"} <= set(jobs)


def test_gpu_rules_on_cpu_nodes_ask_for_no_gpu(tmp_path):
    proc = slurm_dry_run(tmp_path, {"gpu_rules": "cpu", "gpu": {"gpus": 0}})
    jobs = job_resources(proc.stdout)
    for rule in ("train_prior", "sample_prior", "flowdps", "restore"):
        for line in jobs[rule]:
            assert "slurm_partition=cpu" in line and "gpu=" not in line, (rule, line)
            assert "gpu_model" not in line


def test_a_local_run_keeps_one_thread_and_no_slurm_resources(tmp_path):
    proc = snakemake(
        "-n", "--cores", "2", "--configfile", str(REPO / "config/test.yaml"), workdir=tmp_path
    )
    jobs = job_resources(proc.stdout)
    assert not any(
        "slurm" in line or "cpus_per_task" in line for lines in jobs.values() for line in lines
    )
    assert "gpu=1" in jobs["sample_prior"][0] and "mem_mb=8000" in jobs["sample_prior"][0]
    assert not re.search(r"^\s+threads: [2-9]", proc.stdout, re.M)


# --- a real single-node SLURM ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SLURM_CONF = """\
ClusterName=flowemtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.sock
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=4000 Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
"""


def stop_pid_file(path: Path) -> None:
    """SIGTERM the daemon whose pid ``path`` holds, SIGKILL after 10 s."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict[str, str]:
    """munged, slurmctld and slurmd on localhost; the environment that reaches them."""
    if os.geteuid() != 0:
        pytest.skip("slurmd runs as root; this test is not root")
    installed = subprocess.run(["sh", str(INSTALL)], capture_output=True, text=True, timeout=900)
    if installed.returncode != 0:
        pytest.skip(f"could not install slurm-wlm and munge: {installed.stderr.strip()[-300:]}")
    root = tmp_path_factory.mktemp("slurm")
    (root / "munge").mkdir(mode=0o700)
    for folder in ("state", "spool"):
        (root / folder).mkdir()
    root.chmod(0o755)
    key = root / "munge/munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, timeout=30)
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(root=root, ctld_port=free_port(), slurmd_port=free_port()))
    (root / "gres.conf").write_text("NodeName=localhost Name=gpu File=/dev/null\n")
    # The batch job's environment reaches srun without SLURM_CONF (slurmd sets it to the path
    # of its own configuration source, which a test cluster outside /etc/slurm lacks): an srun
    # first on PATH that names this slurm.conf, as /etc/slurm/slurm.conf would on a cluster.
    wrappers = root / "bin"
    wrappers.mkdir()
    srun = wrappers / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec /usr/bin/srun "$@"\n')
    srun.chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{wrappers}:{os.environ['PATH']}"}
    munge = [
        f"--socket={root}/munge/munge.sock",
        f"--key-file={key}",
        f"--pid-file={root}/munge/munged.pid",
        f"--log-file={root}/munge/munged.log",
        f"--seed-file={root}/munge/munged.seed",
    ]
    try:
        subprocess.run(["munged", "--force", *munge], check=True, timeout=30)
        subprocess.run(["slurmctld", "-f", str(conf)], check=True, env=env, timeout=30)
        subprocess.run(
            ["slurmd", "-f", str(conf), "-N", "localhost"], check=True, env=env, timeout=30
        )
        for _ in range(60):
            nodes = subprocess.run(
                ["sinfo", "--noheader", "--format=%P %t"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
            if nodes.split() == ["cpu*", "idle", "gpu", "idle"]:
                break
            time.sleep(0.5)
        else:
            logs = "".join(p.read_text()[-1000:] for p in root.glob("slurm*.log"))
            raise AssertionError(f"SLURM did not come up (sinfo: {nodes!r}):\n{logs}")
        yield env
    finally:
        subprocess.run(
            ["scancel", "--full", "--user=root"], env=env, capture_output=True, timeout=30
        )
        for name in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
            stop_pid_file(root / name)


def scontrol_job(jobid: str, env: dict) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner", jobid],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", out))


def numbers(path: Path) -> list[float]:
    """Every number in a JSON file, depth first, but timings (keys naming seconds)."""

    def walk(node):
        if isinstance(node, dict):
            for key in sorted(node):
                if "seconds" not in key:
                    yield from walk(node[key])
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            yield float(node)

    return list(walk(json.loads(path.read_text())))


def slurm_jobs(env: dict) -> list[str]:
    """Every job SLURM knows of (queued, running, or finished within MinJobAge)."""
    listing = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%i"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return listing.stdout.split()


@pytest.mark.slow
def test_a_real_run_over_the_limits_submits_nothing(tmp_path, slurm):
    """The check runs before the first sbatch of a real run too, and sinfo is asked whether
    the partitions exist."""
    cluster = {"cpu": {"cpus": 2, "mem_mb": 3000}, "gpu": {"partition": "a100", "gpus": 1}}
    before = slurm_jobs(slurm)
    proc = run_with_cluster(tmp_path, cluster, env=slurm, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "rule sip_fit requests 4 CPUs, more than partition 'cpu' allows" in out
    assert "cluster.gpu.partition: SLURM has no partition 'a100' (sinfo lists cpu, gpu)" in out
    assert "has been submitted with SLURM jobid" not in out and slurm_jobs(slurm) == before


@pytest.mark.slow
def test_the_phase_prior_chain_runs_under_slurm_as_it_runs_locally(tmp_path, slurm):
    """Every job through sbatch (job ids from the plugin's log), each to the partition of its
    rule with CPUs = its threads (requests cut to the node's 2 CPUs under clip), the GPU rules
    to `gpu` with a GPU (gres), job status through squeue on a cluster without accounting
    (config cluster.status_command; the plugin's default, sacct, would wait forever), and the
    outputs equal to a local run's within RTOL."""
    mirror = tmp_path / "mirror"
    (mirror / "pdb").mkdir(parents=True)
    (mirror / "pdb" / "1toy.pdb").write_text(toy_pdb_text())
    cluster = {
        "cpu": {"partition": "cpu", "cpus": 2, "mem_mb": 3000, "runtime": 30},
        "gpu": {"partition": "gpu", "cpus": 2, "mem_mb": 3000, "runtime": 30, "gpus": 1},
        "over_limit": "clip",
        "status_command": "squeue",
    }
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": {"mirrors": [str(mirror)], "allow_network": False},
                "structure": {"pdb_id": "1TOY"},
                "cluster": cluster,
            }
        )
    )
    configs = ("--configfile", str(REPO / "config/test.yaml"), str(config))
    started = time.monotonic()
    on_slurm = snakemake(
        TARGET,
        "--workflow-profile",
        str(PROFILE),
        *configs,
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
        workdir=tmp_path / "slurm",
        env=slurm,
    )
    slurm_s = time.monotonic() - started
    log = on_slurm.stdout + on_slurm.stderr
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    threads = {}
    for block in re.split(r"^rule ", log, flags=re.M)[1:]:
        rule = block.split(":")[0]
        jobid = re.search(r"^\s+jobid: (\d+)$", block, re.M)
        if rule in CHAIN and jobid:
            found = re.search(r"^\s+threads: (\d+)$", block, re.M)
            threads[jobid[1]] = (rule, int(found[1]) if found else 1)
    assert set(submitted) == set(threads) and len(submitted) == len(CHAIN), log
    requests = cluster_requests()
    seen = set()
    for job, slurm_id in submitted.items():
        rule, job_threads = threads[job]
        seen.add(rule)
        info = scontrol_job(slurm_id, slurm)
        assert info["JobState"] == "COMPLETED", info
        assert info["Comment"].startswith(f"rule_{rule}"), info  # the rule and its wildcards
        assert info["JobName"].startswith("flowem_"), info
        assert int(info["NumCPUs"]) == job_threads == min(requests[rule]["cpus"], 2), info
        if rule in GPU_RULES:
            assert info["Partition"] == "gpu" and info.get("TresPerJob") == "gres:gpu:1", info
        else:
            assert info["Partition"] == "cpu" and "gpu" not in info.get("TresPerJob", ""), info
        logs = list(
            (tmp_path / "slurm/.snakemake/slurm_logs").glob(f"rule_{rule}/**/{slurm_id}.log")
        )
        assert logs, f"no SLURM log of job {slurm_id} ({rule})"
    assert seen == CHAIN
    train = next(submitted[job] for job, (rule, _) in threads.items() if rule == "train_prior")
    assert scontrol_job(train, slurm)["Comment"] == "rule_train_prior_wildcards_phase"

    started = time.monotonic()
    snakemake(TARGET, "--cores", "2", *configs, workdir=tmp_path / "local")
    local_s = time.monotonic() - started
    print(f"SLURM run {slurm_s:.0f} s, local run {local_s:.0f} s")
    worst = 0.0
    for name in (
        "data/phase_maps/train.mrcs",
        "data/phase_maps/heldout.mrcs",
        "prior/phase/samples.mrcs",
    ):
        a = read_mrc(tmp_path / "slurm/results" / name)[0]
        b = read_mrc(tmp_path / "local/results" / name)[0]
        assert a.shape == b.shape and np.allclose(a, b, rtol=RTOL, atol=RTOL * np.abs(b).max())
        worst = max(worst, float(np.abs(a - b).max() / np.abs(b).max()))
    a, b = (numbers(tmp_path / run / TARGET) for run in ("slurm", "local"))
    assert len(a) == len(b) > 0 and np.allclose(a, b, rtol=RTOL, atol=1e-12)
    losses = [
        pd.read_csv(tmp_path / run / "results/prior/phase/loss.csv") for run in ("slurm", "local")
    ]
    assert np.allclose(losses[0].train_loss, losses[1].train_loss, rtol=RTOL)
    metric_worst = float(np.max(np.abs(np.subtract(a, b)) / np.maximum(np.abs(b), 1e-12)))
    worst = max(worst, metric_worst)
    print(f"largest relative difference (arrays: to their largest value): {worst:.2e}")
