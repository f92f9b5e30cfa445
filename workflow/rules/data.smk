# Stage 1, data: fetch structures and particle data (cache -> mirror -> HTTPS), check them.


include: "functions/data.smk"


rule fetch_structure:
    output:
        f"{CACHE}/pdb/{{pdb_id}}.pdb",
    log:
        f"{LOGS}/fetch_structure/{{pdb_id}}.log",
    benchmark:
        f"{BENCH}/fetch_structure/{{pdb_id}}.tsv"
    priority: 20
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        fetch=fetch_params(),
    shell:
        "python -m flowem fetch pdb/{wildcards.pdb_id}.pdb --out {output} --params {params.fetch:q} --log {log}"


rule check_structure:
    input:
        expand(rules.fetch_structure.output[0], pdb_id=PDB_ID),
    output:
        model=f"{RESULTS}/data/structure/model.pdb",
        summary=report(
            f"{RESULTS}/data/structure/summary.csv",
            caption="../report/structure.rst",
            category="Data",
        ),
    log:
        f"{LOGS}/check_structure.log",
    benchmark:
        f"{BENCH}/check_structure.tsv"
    priority: 20
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        structure=structure_params(),
        override="",  # the ablation below sets one row's values
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem check-structure {input} --outdir {params.outdir} "
        "--params {params.structure:q} {params.override} --seed {params.seed} --log {log}"


# Ablation over structure preparation: one run per row of config/ablations/structure.tsv.
use rule check_structure as check_structure_variant with:
    input:
        structure_variant_input,
    output:
        model=f"{RESULTS}/ablations/structure/{STRUCTURE_GRID.wildcard_pattern}/model.pdb",
        summary=f"{RESULTS}/ablations/structure/{STRUCTURE_GRID.wildcard_pattern}/summary.csv",
    log:
        f"{LOGS}/ablations/structure/{STRUCTURE_GRID.wildcard_pattern}.log",
    benchmark:
        f"{BENCH}/ablations/structure/{STRUCTURE_GRID.wildcard_pattern}.tsv"
    params:
        structure=structure_params(),
        override=row_overrides(STRUCTURE_GRID),
        outdir=output_folder,
        seed=config["seed"],


rule ablation_structure:
    input:
        expand(
            f"{RESULTS}/ablations/structure/{{params}}/summary.csv",
            params=STRUCTURE_GRID.instance_patterns,
        ),


rule simulate_phase_maps:
    input:
        model=rules.check_structure.output.model,
    output:
        maps=expand(
            f"{RESULTS}/data/phase_maps/{{split}}.mrcs",
            split=["train", "val", "test", "heldout"],
        ),
        poses=f"{RESULTS}/data/phase_maps/poses.csv",
        figure=report(
            f"{RESULTS}/data/phase_maps/montage.png",
            caption="../report/phase_maps.rst",
            category="Data",
        ),
    log:
        f"{LOGS}/simulate_phase_maps.log",
    benchmark:
        f"{BENCH}/simulate_phase_maps.tsv"
    priority: 20
    conda:
        "../../envs/flowem.yaml"
    # one thread locally: a 2-thread job waits for both cores of a laptop and delays the critical
    # path (simulate_phase_maps -> train_prior[phase] -> FlowDPS); on SLURM its CLUSTER_REQUESTS
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        phase_maps=phase_map_params(),
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem simulate-phase-maps --structure {input.model} "
        "--outdir {params.outdir} --figure {output.figure} --threads {threads} "
        "--params {params.phase_maps:q} --seed {params.seed} --log {log}"


rule simulate_particles:
    input:
        model=rules.check_structure.output.model,
        poses=rules.simulate_phase_maps.output.poses,
    output:
        counts=expand(
            f"{RESULTS}/data/particles/{{split}}_counts.mrcs",
            split=config["particles"]["splits"],
        ),
        truth=expand(
            f"{RESULTS}/data/particles/{{split}}_phase.mrcs",
            split=config["particles"]["splits"],
        ),
        tables=expand(
            f"{RESULTS}/data/particles/{{split}}.csv",
            split=config["particles"]["splits"],
        ),
        figure=report(
            f"{RESULTS}/data/particles/montage.png",
            caption="../report/particles.rst",
            category="Data",
        ),
    log:
        f"{LOGS}/simulate_particles.log",
    benchmark:
        f"{BENCH}/simulate_particles.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        particles=particle_params(),
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem simulate-particles --structure {input.model} --poses {input.poses} "
        "--outdir {params.outdir} --figure {output.figure} --threads {threads} "
        "--params {params.particles:q} --seed {params.seed} --log {log}"


# The test particles again at another dose (same maps, poses and defoci): the dose curve.
rule simulate_dose:
    input:
        model=rules.check_structure.output.model,
        poses=rules.simulate_phase_maps.output.poses,
    output:
        counts=f"{RESULTS}/data/particles/dose{{dose}}/test_counts.mrcs",
        truth=f"{RESULTS}/data/particles/dose{{dose}}/test_phase.mrcs",
        table=f"{RESULTS}/data/particles/dose{{dose}}/test.csv",
    log:
        f"{LOGS}/simulate_dose/{{dose}}.log",
    benchmark:
        f"{BENCH}/simulate_dose/{{dose}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        particles=dose_particle_params,
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem simulate-particles --structure {input.model} --poses {input.poses} "
        "--outdir {params.outdir} --threads {threads} "
        "--params {params.particles:q} --seed {params.seed} --log {log}"


# The model mismatch: the training model deformed along its ANM normal modes (or another
# structure), config particles.mismatch.
rule deform_structure:
    input:
        unpack(mismatch_inputs),
    output:
        model=f"{RESULTS}/data/structure/mismatch/model.pdb",
        summary=report(
            f"{RESULTS}/data/structure/mismatch/summary.csv",
            caption="../report/mismatch.rst",
            category="Data",
        ),
    log:
        f"{LOGS}/deform_structure.log",
    benchmark:
        f"{BENCH}/deform_structure.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        mismatch=mismatch_params(),
        other=mismatch_other_option,
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem deform-structure --structure {input.model} {params.other} "
        "--outdir {params.outdir} --params {params.mismatch:q} --seed {params.seed} --log {log}"


# The test particles again (same poses, defoci and noise streams) from the mismatched
# structure, with its own ground-truth phase: particle set `mismatch`.
use rule simulate_dose as simulate_mismatch with:
    input:
        model=rules.deform_structure.output.model,
        poses=rules.simulate_phase_maps.output.poses,
    output:
        counts=f"{RESULTS}/data/particles/mismatch/test_counts.mrcs",
        truth=f"{RESULTS}/data/particles/mismatch/test_phase.mrcs",
        table=f"{RESULTS}/data/particles/mismatch/test.csv",
    log:
        f"{LOGS}/simulate_mismatch.log",
    benchmark:
        f"{BENCH}/simulate_mismatch.tsv"
    params:
        particles=mismatch_particle_params,
        outdir=output_folder,
        seed=config["seed"],


# The specimen ablation: the test particles again (same maps, poses, defoci and noise streams)
# imaged ideally: no ice background, detector MTF or envelope (the maps, the prior's domain,
# keep their solvent); particle set `clean`, target `ablation_specimen`.
use rule simulate_dose as simulate_clean with:
    output:
        counts=f"{RESULTS}/data/particles/clean/test_counts.mrcs",
        truth=f"{RESULTS}/data/particles/clean/test_phase.mrcs",
        table=f"{RESULTS}/data/particles/clean/test.csv",
    log:
        f"{LOGS}/simulate_clean.log",
    benchmark:
        f"{BENCH}/simulate_clean.tsv"
    params:
        particles=clean_particle_params,
        outdir=output_folder,
        seed=config["seed"],


rule fetch_particles:
    output:
        stack=f"{CACHE}/{config['real_particles']['stack']}",
        star=f"{CACHE}/{config['real_particles']['star']}",
    log:
        f"{LOGS}/fetch_particles.log",
    benchmark:
        f"{BENCH}/fetch_particles.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        fetch=fetch_params(),
        ids=real_particle_ids(),
    shell:
        "python -m flowem fetch {params.ids} --out {output.stack} {output.star} "
        "--params {params.fetch:q} --log {log}"


rule preprocess_particles:
    input:
        stack=rules.fetch_particles.output.stack,
        star=rules.fetch_particles.output.star,
    output:
        counts=f"{RESULTS}/data/real_particles/{REAL}/counts.mrcs",
        table=f"{RESULTS}/data/real_particles/{REAL}/particles.csv",
        figure=report(
            f"{RESULTS}/data/real_particles/{REAL}/montage.png",
            caption="../report/real_particles.rst",
            category="Data",
        ),
    log:
        f"{LOGS}/preprocess_particles.log",
    benchmark:
        f"{BENCH}/preprocess_particles.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        preprocess=real_particle_params(),
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem preprocess-particles --stack {input.stack} --star {input.star} "
        "--outdir {params.outdir} --figure {output.figure} --threads {threads} "
        "--params {params.preprocess:q} --seed {params.seed} --log {log}"


# Simulated particles at the real stack's optics against the real ones (background spectrum,
# contrast): the check of the ice, envelope and detector settings of `particles`.
rule calibrate_background:
    input:
        model=rules.check_structure.output.model,
        stack=rules.fetch_particles.output.stack,
        star=rules.fetch_particles.output.star,
    output:
        spectra=f"{RESULTS}/data/calibration/spectra.csv",
        summary=f"{RESULTS}/data/calibration/summary.json",
        figure=report(
            f"{RESULTS}/data/calibration/figure.png",
            caption="../report/calibration.rst",
            category="Data",
        ),
    log:
        f"{LOGS}/calibrate_background.log",
    benchmark:
        f"{BENCH}/calibrate_background.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        calibration=calibration_params(),
        particles=particle_params(),
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem calibrate-background --structure {input.model} --stack {input.stack} "
        "--star {input.star} --outdir {params.outdir} --figure {output.figure} "
        "--params {params.calibration:q} --particles {params.particles:q} "
        "--seed {params.seed} --log {log}"
