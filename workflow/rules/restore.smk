# Stage 4, EM Generalist restoration: one EM flow prior, many restoration tasks.


include: "functions/restore.smk"


rule fetch_em_volume:
    output:
        EM_VOLUME,
    log:
        f"{LOGS}/fetch_em_volume.log",
    benchmark:
        f"{BENCH}/fetch_em_volume.tsv"
    priority: 20  # heads the longest chain (em_patches, the EM prior, restore): start it first
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        fetch=fetch_params(),
        volume=config["em_patches"]["volume"],
    shell:
        "python -m flowem fetch {params.volume} --out {output} "
        "--params {params.fetch:q} --log {log}"


# The natural-image NIQE model that restore scores with (data.niqe_model): a declared input,
# so a run without it stops before any job starts computing.
rule fetch_niqe_model:
    output:
        NIQE_MODEL,
    log:
        f"{LOGS}/fetch_niqe_model.log",
    benchmark:
        f"{BENCH}/fetch_niqe_model.tsv"
    priority: 20
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        fetch=fetch_params(),
        model=config["data"]["niqe_model"],
    shell:
        "python -m flowem fetch {params.model} --out {output} "
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
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        patches=em_patch_params(),
        seed=config["seed"],
    shell:
        "python -m flowem em-patches --volume {input} --train {output.train} --val {output.val} "
        "--params {params.patches:q} --seed {params.seed} --log {log}"


# The restoration table: every flow sampler with the EM prior, DPS on the diffusion prior
# (results/prior/em_diffusion), the supervised network of each task (rule train_supervised) and
# the classical baselines, on the same crops.
rule restore:
    input:
        unpack(restore_rivals),
        model=prior_model("em"),
        volume=rules.fetch_em_volume.output[0],
        niqe=rules.fetch_niqe_model.output[0],
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
    threads: cluster_threads  # 1 locally (it runs beside the other stages), 8 on SLURM
    resources:
        **CLUSTER_RESOURCES,
    params:
        restore=restore_params(),
        override="",  # the ablation below sets one row's values
        rivals=rival_options,
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem restore --model {input.model} --volume {input.volume} "
        "--niqe-model {input.niqe} --outdir {params.outdir} --threads {threads} "
        "--params {params.restore:q} "
        "{params.override} {params.rivals} --seed {params.seed} --log {log}"


# Ablation: one restoration run per row of config/ablations/restore.tsv (sampler, alpha, lr, eta);
# one flow row, the row's sampler as it is (no samplers list), its lr for every task (no task_lr)
# and not re-tuned (no tune grid); no supervised or diffusion rows.
use rule restore as restore_variant with:
    input:
        model=prior_model("em"),
        volume=rules.fetch_em_volume.output[0],
        niqe=rules.fetch_niqe_model.output[0],
    output:
        metrics=f"{RESULTS}/ablations/restore/{RESTORE_GRID.wildcard_pattern}/metrics.json",
    log:
        f"{LOGS}/ablations/restore/{RESTORE_GRID.wildcard_pattern}.log",
    benchmark:
        f"{BENCH}/ablations/restore/{RESTORE_GRID.wildcard_pattern}.tsv"
    params:
        restore=restore_params(),
        override=row_overrides(
            RESTORE_GRID, RESTORE_COLUMNS, task_lr={}, tune={}, samplers=[]
        ),
        rivals="",
        outdir=output_folder,
        seed=config["seed"],


rule ablation_restore:
    input:
        expand(
            f"{RESULTS}/ablations/restore/{{params}}/metrics.json",
            params=RESTORE_GRID.instance_patterns,
        ),


# The whole restoration table with its rivals: the restore run again with a supervised network
# per task (supervised.tasks) and DPS on the diffusion EM prior. In the paper profile
# (supervised.in_restore) the main restore rule has them already; in the default profile their
# seven trainings at the EM prior's budget do not fit the 30 minutes, so they are this target.
use rule restore as restore_with_rivals with:
    input:
        unpack(all_rivals),
        model=prior_model("em"),
        volume=rules.fetch_em_volume.output[0],
        niqe=rules.fetch_niqe_model.output[0],
    output:
        metrics=f"{RESULTS}/restore_rivals/metrics.json",
    log:
        f"{LOGS}/restore_rivals.log",
    benchmark:
        f"{BENCH}/restore_rivals.tsv"


rule restore_rivals:
    input:
        rules.restore_with_rivals.output.metrics,


# The supervised rival of the EM prior, one network per task (issue 15): random patches of the
# training slices degraded on the fly, the EM prior's network and budget
# (supervised_train_params). The training state beside the model is not an output, so an
# interrupted job resumes from it.
rule train_supervised:
    input:
        volume=rules.fetch_em_volume.output[0],
    output:
        model=f"{RESULTS}/restore/supervised/{{task}}/model.pt",
        loss=f"{RESULTS}/restore/supervised/{{task}}/loss.csv",
        curve=f"{RESULTS}/restore/supervised/{{task}}/loss.png",
    log:
        f"{LOGS}/train_supervised/{{task}}.log",
    benchmark:
        f"{BENCH}/train_supervised/{{task}}.tsv"
    wildcard_constraints:
        task="denoise|sr2|sr3|sr4|deblur|axial",
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        train=supervised_train_params,
        checkpoint=prior_checkpoint,
        seed=config["seed"],
    shell:
        "python -m flowem train-supervised --volume {input.volume} "
        "--checkpoint {params.checkpoint} --model {output.model} --loss-csv {output.loss} "
        "--loss-plot {output.curve} --threads {threads} --params {params.train:q} "
        "--seed {params.seed} --log {log}"


# A user's own image: `snakemake results/user/<name>/normalisation.json` restores
# user/<name>.tif|tiff|mrc|mrcs|map with the EM prior as restore.user says (task, pixel size,
# polarity, noise); the restored image, its normalisation and config land beside it.
rule restore_image:
    input:
        image=user_image,
        model=prior_model("em"),
    output:
        normalisation=f"{RESULTS}/user/{{name}}/normalisation.json",
    log:
        f"{LOGS}/restore_image/{{name}}.log",
    benchmark:
        f"{BENCH}/restore_image/{{name}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        restore=restore_params(),
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem restore-image --model {input.model} --image {input.image} "
        "--outdir {params.outdir} --threads {threads} --params {params.restore:q} "
        "--seed {params.seed} --log {log}"
