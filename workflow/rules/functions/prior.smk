# Input and params functions of the prior stage (rules/prior.smk).


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


def prior_model(kind: str) -> str:
    """The model file of the ``kind`` prior (phase or em)."""
    return expand(rules.train_prior.output.model, kind=kind)[0]
