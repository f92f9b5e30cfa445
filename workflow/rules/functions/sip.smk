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
