# Input and params functions of the SIP stage (rules/sip.smk).


def sip_params(wildcards) -> str:
    return json.dumps(config["sip"][wildcards.experiment], sort_keys=True)


def sip_structure(wildcards) -> list[str]:
    """The protein experiment reads its structure through the fetch rule."""
    if wildcards.experiment != "protein":
        return []
    return [f"{CACHE}/{config['sip']['protein']['structure']}"]


def sip_structure_option(wildcards, input) -> str:
    return f"--structure {input.structure[0]}" if input.structure else ""


def sip_metrics(wildcards) -> list[str]:
    """The metrics of every configured experiment (the summary table's rows)."""
    return expand(rules.sip_fit.output.metrics, experiment=config["sip"]["experiments"])


def sip_targets() -> list[str]:
    """The SIP stage's final outputs: each experiment's metrics and the summary table."""
    return [*sip_metrics(None), rules.sip_summary.output.table]
