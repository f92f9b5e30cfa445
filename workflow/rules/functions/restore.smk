# Input and params functions of the restoration stage (rules/restore.smk).

#: the natural-image NIQE model in the cache (rule fetch_niqe_model)
NIQE_MODEL = f"{CACHE}/{config['data']['niqe_model']}"


def em_patch_params() -> str:
    """The patch settings; the volume itself arrives as the rule's input."""
    params = {k: v for k, v in config["em_patches"].items() if k != "volume"}
    return json.dumps(params, sort_keys=True)


def restore_params() -> str:
    return stage_params("restore")


def all_rivals(wildcards) -> dict[str, object]:
    """The rivals of the flow prior: a supervised network per task (train_supervised)
    and the diffusion EM prior (train_prior, kind em_diffusion)."""
    return {"supervised": supervised_models(), "diffusion": prior_model("em_diffusion")}


def restore_rivals(wildcards) -> dict[str, object]:
    """The main restore rule's rivals: all of them where ``supervised.in_restore`` (the paper
    profile), none in the default profile, whose 30 minutes do not hold seven more trainings at
    the EM prior's budget (the ``restore_rivals`` target runs them)."""
    return all_rivals(wildcards) if config["supervised"]["in_restore"] else {}


def rival_options(wildcards, input) -> str:
    """The restore command's options for the rivals among the rule's inputs."""
    options = []
    if "supervised" in input.keys():
        options.append("--supervised " + " ".join(input.supervised))
    if "diffusion" in input.keys():
        options.append(f"--diffusion-model {input.diffusion}")
    return " ".join(options)


RESTORE_GRID = paramspace("restore")
#: the table's columns as the restore section's keys (`sampler`: a column cannot be called
#: `method`, a global wildcard)
RESTORE_COLUMNS = {
    "sampler": "sampler.method",
    "alpha": "sampler.alpha",
    "lr": "sampler.lr",
    "eta": "sampler.eta",
}


#: where restore_image finds a user's image: user/<name>.<suffix>, one of these suffixes
USER_IMAGE_SUFFIXES = ("tif", "tiff", "mrc", "mrcs", "map")


def user_image(wildcards) -> str:
    """The user's image ``user/<name>.<suffix>`` (the first suffix that exists)."""
    for suffix in USER_IMAGE_SUFFIXES:
        path = Path("user") / f"{wildcards.name}.{suffix}"
        if path.exists():
            return str(path)
    raise ValueError(
        f"restore_image: no user/{wildcards.name}.<{'|'.join(USER_IMAGE_SUFFIXES)}> to restore"
    )
