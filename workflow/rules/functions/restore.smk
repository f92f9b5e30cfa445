# Input and params functions of the restoration stage (rules/restore.smk).


def em_patch_params() -> str:
    """The patch settings; the volume itself arrives as the rule's input."""
    params = {k: v for k, v in config["em_patches"].items() if k != "volume"}
    return json.dumps(params, sort_keys=True)


def restore_params() -> str:
    return stage_params("restore")


RESTORE_GRID = paramspace("restore")
#: the table's columns as the restore section's keys (`sampler`: a column cannot be called
#: `method`, a global wildcard)
RESTORE_COLUMNS = {
    "sampler": "sampler.method",
    "alpha": "sampler.alpha",
    "lr": "sampler.lr",
    "eta": "sampler.eta",
}
