# Stage 4, EM Generalist restoration: one EM flow prior, many restoration tasks.


include: "functions/restore.smk"


rule fetch_em_volume:
    output:
        EM_VOLUME,
    log:
        f"{LOGS}/fetch_em_volume.log",
    benchmark:
        f"{BENCH}/fetch_em_volume.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    params:
        fetch=fetch_params(),
        volume=config["em_patches"]["volume"],
    shell:
        "python -m flowem fetch {params.volume} --out {output} "
        "--params {params.fetch:q} --log {log}"


rule em_patches:
    input:
        rules.fetch_em_volume.output[0],
    output:
        train=f"{RESULTS}/data/em_patches/train.mrcs",
        val=f"{RESULTS}/data/em_patches/val.mrcs",
    log:
        f"{LOGS}/em_patches.log",
    benchmark:
        f"{BENCH}/em_patches.tsv"
    priority: 10
    conda:
        "../../envs/flowem.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        patches=em_patch_params(),
        seed=config["seed"],
    shell:
        "python -m flowem em-patches --volume {input} --train {output.train} --val {output.val} "
        "--params {params.patches:q} --seed {params.seed} --log {log}"


rule restore:
    input:
        model=prior_model("em"),
        volume=rules.fetch_em_volume.output[0],
    output:
        metrics=report(
            f"{RESULTS}/restore/metrics.json",
            caption="../report/metrics_restore.rst",
            category="Restoration",
        ),
    log:
        f"{LOGS}/restore.log",
    benchmark:
        f"{BENCH}/restore.tsv"
    priority: 10  # the longest job after the priors: start it as soon as the EM prior is done
    conda:
        "../../envs/flowem.yaml"
    threads: 1  # the SLURM profile sets 8; on a laptop it runs beside the other stages
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    params:
        restore=restore_params(),
        override="",  # the ablation below sets one row's values
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem restore --model {input.model} --volume {input.volume} "
        "--outdir {params.outdir} --threads {threads} --params {params.restore:q} "
        "{params.override} --seed {params.seed} --log {log}"


# Ablation: one restoration run per row of config/ablations/restore.tsv (sampler, alpha, lr, eta);
# the row's lr applies to every task (no task_lr) and is not re-tuned (no tune grid).
use rule restore as restore_variant with:
    output:
        metrics=f"{RESULTS}/ablations/restore/{RESTORE_GRID.wildcard_pattern}/metrics.json",
    log:
        f"{LOGS}/ablations/restore/{RESTORE_GRID.wildcard_pattern}.log",
    benchmark:
        f"{BENCH}/ablations/restore/{RESTORE_GRID.wildcard_pattern}.tsv"
    params:
        restore=restore_params(),
        override=row_overrides(RESTORE_GRID, RESTORE_COLUMNS, task_lr={}, tune={}),
        outdir=output_folder,
        seed=config["seed"],


rule ablation_restore:
    input:
        expand(
            f"{RESULTS}/ablations/restore/{{params}}/metrics.json",
            params=RESTORE_GRID.instance_patterns,
        ),
