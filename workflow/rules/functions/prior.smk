# Input and params functions of the prior stage (rules/prior.smk).


PRIOR_DATA = {
    "phase": f"{RESULTS}/data/phase_maps/{{split}}.mrcs",
    "em": f"{RESULTS}/data/em_patches/{{split}}.mrcs",
    "em_diffusion": f"{RESULTS}/data/em_patches/{{split}}.mrcs",
}
#: a derived prior kind -> (the kind whose config it takes, the train keys it replaces): the
#: diffusion rival of the EM prior trains on the same data with the same network and budget.
DERIVED_PRIORS = {"em_diffusion": ("em", {"objective": "diffusion"})}


def prior_training_data(wildcards) -> str:
    return PRIOR_DATA[wildcards.kind].format(split="train")


def prior_validation_data(wildcards) -> str:
    """Held-out images: never trained on, never used by the later stages."""
    return PRIOR_DATA[wildcards.kind].format(
        split="heldout" if wildcards.kind == "phase" else "val"
    )


def prior_config(kind: str, part: str) -> dict:
    """``prior.<kind>.<part>``; a derived kind takes its base kind's, with its replacements
    (training only), so that its budget equals the base's by construction."""
    base, replaced = DERIVED_PRIORS.get(kind, (kind, {}))
    return {**config["prior"][base][part], **(replaced if part == "train" else {})}


def prior_train_params(wildcards) -> str:
    return json.dumps(prior_config(wildcards.kind, "train"), sort_keys=True)


def prior_sample_params(wildcards) -> str:
    return json.dumps(prior_config(wildcards.kind, "sample"), sort_keys=True)


def supervised_train_params(wildcards) -> str:
    """One task's supervised network: the EM prior's network and budget, its training slices
    and the restoration's degradation."""
    from flowem.settings import BUDGET_KEYS

    train = config["prior"]["em"]["train"]
    params = {key: train[key] for key in BUDGET_KEYS if key in train}
    params |= {
        "task": wildcards.task,
        "train_slices": config["em_patches"]["train_slices"],
        "degradation": config["restore"]["degradation"],
    }
    return json.dumps(params, sort_keys=True)


def supervised_models() -> list[str]:
    """The supervised networks of ``supervised.tasks``."""
    return expand(
        rules.train_supervised.output.model, task=config["supervised"]["tasks"]
    )


def prior_checkpoint(wildcards, output) -> str:
    """Training state beside the model; not an output, so Snakemake never deletes it."""
    return str(Path(output.model).parent / "checkpoint" / "last.pt")


def prior_launcher() -> str:
    """One process, or DDP through torchrun with one process per GPU."""
    gpus = config["prior"]["gpus"]
    if gpus == 1:
        return "python -m flowem train-prior"
    return f"torchrun --standalone --nproc_per_node {gpus} -m flowem.prior.train"


def prior_model(kind: str) -> str:
    """The model file of the ``kind`` prior (phase, em or em_diffusion)."""
    return expand(rules.train_prior.output.model, kind=kind)[0]
