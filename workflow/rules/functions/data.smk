# Input and params functions of the data stage (rules/data.smk).


#: keys of phase_maps that simulate_particles needs to re-make the same maps at full size
GEOMETRY_KEYS = (
    "size_px",
    "pixel_size_a",
    "bin_factor",
    "voltage_kv",
    "b_factor_a2",
    "solvent",
    "pad_factor",
)
STRUCTURE_GRID = paramspace("structure")


def structure_options() -> dict:
    return {k: config["structure"][k] for k in ("hydrogens", "waters")}


def phase_map_params() -> str:
    return stage_params("phase_maps", **structure_options())


def particle_params(**overrides) -> str:
    geometry = {k: config["phase_maps"][k] for k in GEOMETRY_KEYS}
    params = {**config["particles"], **geometry, **structure_options(), **overrides}
    params.pop("mismatch")  # the mismatched set's structure: rule deform_structure
    return json.dumps(params, sort_keys=True, default=_plain)


def mismatch_kind() -> str:
    return config["particles"]["mismatch"]["kind"]


def mismatch_params() -> str:
    params = {**config["particles"]["mismatch"], **structure_options()}
    return json.dumps(params, sort_keys=True)


def mismatch_inputs(wildcards) -> dict[str, str]:
    """The training model, and the other structure where the mismatch is another file."""
    inputs = {"model": rules.check_structure.output.model}
    other = config["particles"]["mismatch"]["structure"]
    if mismatch_kind() == "structure" and other:
        fetched = rules.fetch_structure.output[0]
        inputs["other"] = expand(fetched, pdb_id=other.lower())[0]
    return inputs


def mismatch_other_option(wildcards, input) -> str:
    return f"--other {input.other}" if "other" in input.keys() else ""


def calibration_params() -> str:
    return stage_params("calibration")


def real_particle_ids() -> str:
    return f"{config['real_particles']['stack']} {config['real_particles']['star']}"


def real_particle_params() -> str:
    keep = (
        "size_px",
        "pixel_size_a",
        "downsample",
        "dose_e_per_a2",
        "invert_contrast",
        "background_radius",
        "max_particles",
    )
    params = {k: config["real_particles"][k] for k in keep}
    return json.dumps({**params, "source": REAL}, sort_keys=True)


def structure_params() -> str:
    return stage_params("structure")


def structure_variant_input(wildcards) -> str:
    """The fetched structure of this row's ``pdb_id``."""
    pdb_id = STRUCTURE_GRID.instance(wildcards)["pdb_id"].lower()
    return expand(rules.fetch_structure.output[0], pdb_id=pdb_id)[0]


def dose_particle_params(wildcards) -> str:
    """simulate_particles' parameters for the test split alone at the wildcard's dose."""
    return particle_params(splits=["test"], dose_e_per_a2=float(wildcards.dose))


def clean_particle_params(wildcards) -> str:
    """The test split imaged ideally: ice background, detector MTF and envelope off."""
    return particle_params(
        splits=["test"],
        ice_background=False,
        detector_mtf=False,
        b_envelope_a2=0.0,
    )


def mismatch_particle_params(wildcards) -> str:
    """simulate_particles' parameters for the test split alone (the deformed structure's)."""
    return particle_params(splits=["test"])
