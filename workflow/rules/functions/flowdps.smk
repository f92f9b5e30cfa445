# Input and params functions of the FlowDPS stage (rules/flowdps.smk).


def dose_set(dose: float) -> str:
    """The particle set of the test particles simulated again at ``dose``."""
    return "test" if dose == config["particles"]["dose_e_per_a2"] else f"dose{dose:g}"


def dose_sets() -> dict[float, str]:
    """Dose -> particle set of the dose curve (the default dose is the test set itself)."""
    doses = [*config["evaluation"]["dose_sweep"], config["particles"]["dose_e_per_a2"]]
    return {float(d): dose_set(float(d)) for d in sorted(set(doses))}


def dose_metrics(wildcards) -> list[str]:
    """The metrics of every particle set of the dose curve, in order of dose."""
    return expand(rules.evaluate_flowdps.output.metrics, pset=dose_sets().values())


def dose_curve_sets(wildcards, input) -> str:
    return " ".join(
        f"--set {dose:g}={path}" for dose, path in zip(dose_sets(), input.metrics)
    )


def particle_set_inputs(wildcards) -> dict[str, str]:
    """Counts, table (and ground truth) of a particle set: ``test``, ``mismatch``, a dose set
    or the real set."""
    if wildcards.pset in ("test", "mismatch", "clean") or wildcards.pset.startswith(
        "dose"
    ):
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
        inputs["model"] = prior_model("phase")
    return inputs


def baseline_evaluations() -> int | None:
    """The forward-model evaluations per particle of the iterative baselines (baselines.
    evaluations: 'flowdps' = samples x steps x dc_steps of the flowdps section)."""
    from flowem.flowdps.budget import resolve_evaluations

    return resolve_evaluations(config["baselines"]["evaluations"], config["flowdps"])


def method_config(method: str) -> dict:
    if method == "flowdps":
        return config["flowdps"]
    section = dict(config["baselines"][method])
    if method in ("iterative", "poisson_tv"):
        evaluations = baseline_evaluations()
        if evaluations is not None:
            section["evaluations"] = evaluations
        elif section.get("iterations") is None:
            raise ValueError(
                f"baselines.{method}.iterations is null and baselines.evaluations is null: "
                "set one of them"
            )
    return section


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


def tuning_results(wildcards) -> list[str]:
    """Each method's tuning record (its choice goes into the equal-budget table)."""
    return expand(
        rules.tune_retrieval.output[0], method=list(method_folders(wildcards.pset))
    )


def tuned_options(wildcards, input) -> str:
    return " ".join(
        f"--tuning {n}={path}"
        for n, path in zip(method_folders(wildcards.pset), input.tuning, strict=True)
    )


def truth_option(wildcards, input) -> str:
    return f"--truth {input.truth}" if "truth" in input.keys() else ""


FLOWDPS_GRID = paramspace("flowdps")


def evaluation_params() -> str:
    return stage_params("evaluation", prior_molecule=config["structure"]["pdb_id"])


def flowdps_targets() -> list[str]:
    """The test set's metrics, and the mismatched set's, the dose curve's and the real
    particles' where enabled."""
    metrics = rules.evaluate_flowdps.output.metrics
    targets = expand(metrics, pset="test")
    if mismatch_kind() != "none":
        targets += expand(metrics, pset="mismatch")
    if config["evaluation"]["dose_sweep"]:
        targets.append(rules.dose_curve.output.metrics)
    if config["real_particles"]["enabled"]:
        targets += expand(metrics, pset=REAL)
    return targets
