# Targets and params functions of the report (rules/report.smk) and of `rule all`.


def report_params() -> str:
    return stage_params("report", scale=config["scale"], config=config)


def results_root(wildcards, output) -> str:
    """The results folder, from the report page's path (results/report/index.html)."""
    return str(Path(output.page).parents[1])


def real_particle_targets() -> list[str]:
    if not config["real_particles"]["enabled"]:
        return []
    return [
        rules.preprocess_particles.output.figure,
        rules.calibrate_background.output.figure,
    ]


def stage_targets() -> list[str]:
    """Every stage's final outputs (what the report summarises)."""
    return [
        rules.check_structure.output.model,
        rules.check_structure.output.summary,
        rules.simulate_phase_maps.output.figure,
        rules.simulate_particles.output.figure,
        *real_particle_targets(),
        *expand(rules.sample_prior.output.metrics, kind=["phase", "em"]),
        rules.restore.output.metrics,
        *generalist_targets(),
        *flowdps_targets(),
        *sip_targets(),
    ]


def all_targets() -> list[str]:
    """What a plain `snakemake` builds: every stage's outputs and the report page."""
    return [*stage_targets(), rules.report.output.page]
