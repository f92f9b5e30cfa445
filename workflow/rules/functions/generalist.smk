# Input and params functions of the generalist EM prior (rules/generalist.smk, issue 16).


def corpus_sets() -> dict[str, dict]:
    """em_corpus.sets, else the code's catalogue (imported only then: the module loads torch)."""
    sets = config["em_corpus"].get("sets")
    if sets is None:
        from flowem.restore.corpus import DEFAULT_SETS as sets
    return sets


#: the data sets in use (restricted ones only under em_corpus.include_restricted)
CORPUS_SETS = [
    name
    for name, spec in corpus_sets().items()
    if config["em_corpus"]["include_restricted"] or not spec.get("restricted", False)
]
#: those with training sections: each gets a prior trained without it (leave-one-out)
LOO_TRAINED = [name for name in CORPUS_SETS if corpus_sets()[name].get("train")]
GENERALIST = f"{RESULTS}/generalist"


def corpus_section() -> dict:
    return {
        k: v
        for k, v in config["em_corpus"].items()
        if k not in ("leave_one_out", "in_default")
    }


def corpus_params() -> str:
    """em-corpus's --params: the corpus section and the data (fetch) settings."""
    return json.dumps(
        {"corpus": corpus_section(), "data": config["data"]}, sort_keys=True
    )


def generalist_params() -> str:
    """restore-generalist's --params: the corpus, the restore section and the data settings."""
    params = {
        "corpus": corpus_section(),
        "restore": config["restore"],
        "data": config["data"],
    }
    return json.dumps(params, sort_keys=True, default=_plain)


def generalist_train_params(wildcards) -> str:
    """The generalist prior trains with exactly the EM prior's network and budget (on patches
    of its image size)."""
    train = prior_config("em", "train")
    size, patch = train["network"]["image_size"], config["em_corpus"]["patch"]
    if size != patch:
        raise ValueError(
            f"em_corpus.patch ({patch}) must equal prior.em.train.network.image_size ({size})"
        )
    return json.dumps(train, sort_keys=True)


def generalist_model(wildcards) -> str:
    """The prior that restores ``held``: trained without it, or, for a set never trained on
    (no training sections: the noisy SEM image), the in-domain prior, which never saw it.
    """
    held = wildcards.held if wildcards.held in LOO_TRAINED else "all"
    return f"{GENERALIST}/{held}/prior/model.pt"


def generalist_scores(leave_one_out: bool) -> list[str]:
    """The in-domain scores and, with ``leave_one_out``, every data set's held-out scores."""
    held = ["all", *(CORPUS_SETS if leave_one_out else [])]
    return expand(f"{GENERALIST}/{{held}}/scores.json", held=held)


def generalist_targets() -> list[str]:
    """The generalist table in the default target, where em_corpus.in_default."""
    return (
        [f"{RESULTS}/restore/generalist.json"]
        if config["em_corpus"]["in_default"]
        else []
    )
