# Stage 4b, the generalist EM prior (issue 16): one prior trained on a corpus across
# microscopes (em_corpus), judged per data set in-domain and leave-one-data-set-out.
# Not in the default target (em_corpus.in_default): `snakemake generalist` (in-domain) and
# `snakemake generalist_loo` (one more prior per data set) build the tables.


include: "functions/generalist.smk"


wildcard_constraints:
    held="|".join(["all", *CORPUS_SETS]),


# Balanced patches of the corpus less {held} ("all": none left out); the files are fetched
# and verified inside (the CDeep3M set only under em_corpus.include_restricted).
rule em_corpus:
    output:
        train=f"{GENERALIST}/{{held}}/patches/train.mrcs",
        val=f"{GENERALIST}/{{held}}/patches/val.mrcs",
    log:
        f"{LOGS}/em_corpus/{{held}}.log",
    benchmark:
        f"{BENCH}/em_corpus/{{held}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        corpus=corpus_params(),
        seed=config["seed"],
    shell:
        "python -m flowem em-corpus --train {output.train} --val {output.val} "
        "--leave-out {wildcards.held} --params {params.corpus:q} --seed {params.seed} --log {log}"


# The EM prior's training (network and budget of prior.em.train) on the corpus patches.
use rule train_prior as train_generalist with:
    input:
        train=rules.em_corpus.output.train,
        val=rules.em_corpus.output.val,
    output:
        model=f"{GENERALIST}/{{held}}/prior/model.pt",
        loss=f"{GENERALIST}/{{held}}/prior/loss.csv",
        curve=f"{GENERALIST}/{{held}}/prior/loss.png",
    log:
        f"{LOGS}/train_generalist/{{held}}.log",
    benchmark:
        f"{BENCH}/train_generalist/{{held}}.tsv"
    params:
        train=generalist_train_params,
        launcher=prior_launcher(),
        checkpoint=prior_checkpoint,
        seed=config["seed"],


# Every data set restored by the all-sets prior (held = all: in_domain), or data set {held}
# by the prior trained without it (leave_one_out).
rule evaluate_generalist:
    input:
        model=generalist_model,
        niqe=rules.fetch_niqe_model.output[0],
    output:
        scores=f"{GENERALIST}/{{held}}/scores.json",
    log:
        f"{LOGS}/evaluate_generalist/{{held}}.log",
    benchmark:
        f"{BENCH}/evaluate_generalist/{{held}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        generalist=generalist_params(),
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem restore-generalist --model {input.model} --held {wildcards.held} "
        "--niqe-model {input.niqe} --outdir {params.outdir} --threads {threads} "
        "--params {params.generalist:q} --seed {params.seed} --log {log}"


# The per-data-set table: in-domain, and leave-one-out where em_corpus.leave_one_out.
rule generalist_table:
    input:
        generalist_scores(config["em_corpus"]["leave_one_out"]),
    output:
        table=f"{RESULTS}/restore/generalist.json",
    log:
        f"{LOGS}/generalist_table.log",
    benchmark:
        f"{BENCH}/generalist_table.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    shell:
        "python -m flowem generalist-table {input} --out {output.table} --log {log}"


# The same table with every data set's leave-one-out rows (one prior trained per data set).
use rule generalist_table as generalist_loo_table with:
    input:
        generalist_scores(True),
    output:
        table=f"{RESULTS}/restore/generalist_loo.json",
    log:
        f"{LOGS}/generalist_loo_table.log",
    benchmark:
        f"{BENCH}/generalist_loo_table.tsv"


rule generalist:
    input:
        rules.generalist_table.output.table,


rule generalist_loo:
    input:
        rules.generalist_loo_table.output.table,
