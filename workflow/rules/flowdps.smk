# Stage 3, FlowDPS: single-shot phase retrieval of particle images with the phase prior,
# against classical baselines, every method tuned on the validation particles first.


include: "functions/flowdps.smk"


rule tune_retrieval:
    input:
        unpack(tuning_inputs),
    output:
        f"{RESULTS}/flowdps/tuning/{{method}}.json",
    log:
        f"{LOGS}/tune_retrieval/{{method}}.log",
    benchmark:
        f"{BENCH}/tune_retrieval/{{method}}.tsv"
    priority: 5
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        tuning=tuning_params,
        model=tuning_model_option,
        seed=config["seed"],
    shell:
        "python -m flowem tune-retrieval --method {wildcards.method} --counts {input.counts} "
        "--table {input.table} --truth {input.truth} {params.model} --out {output} "
        "--params {params.tuning:q} --seed {params.seed} --log {log}"


rule flowdps:
    input:
        unpack(particle_set_inputs),
        model=prior_model("phase"),
        tuned=expand(rules.tune_retrieval.output[0], method="flowdps"),
    output:
        f"{RESULTS}/flowdps/{{pset}}/shards/{{scatteritem}}.npz",
    log:
        f"{LOGS}/flowdps/{{pset}}/{{scatteritem}}.log",
    benchmark:
        f"{BENCH}/flowdps/{{pset}}/{{scatteritem}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        flowdps=flowdps_params(),
        shard=shard_number,
        seed=config["seed"],
    shell:
        "python -m flowem flowdps --model {input.model} --counts {input.counts} "
        "--table {input.table} --tuned {input.tuned} --shard {params.shard} --out {output} "
        "--params {params.flowdps:q} --seed {params.seed} --log {log}"


rule gather_flowdps:
    input:
        gather.flowdps(f"{RESULTS}/flowdps/{{{{pset}}}}/shards/{{scatteritem}}.npz"),
    output:
        mean=f"{RESULTS}/flowdps/{{pset}}/flowdps/mean.mrcs",
        std=f"{RESULTS}/flowdps/{{pset}}/flowdps/std.mrcs",
        table=f"{RESULTS}/flowdps/{{pset}}/flowdps/particles.csv",
    log:
        f"{LOGS}/gather_flowdps/{{pset}}.log",
    benchmark:
        f"{BENCH}/gather_flowdps/{{pset}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        outdir=output_folder,
        pixel=working_pixel_size(),
        seed=config["seed"],
    shell:
        "python -m flowem gather-flowdps {input} --pixel-size {params.pixel} "
        "--outdir {params.outdir} --seed {params.seed} --log {log}"


rule baseline:
    input:
        unpack(particle_set_inputs),
        tuned=rules.tune_retrieval.output[0],
    output:
        phase=f"{RESULTS}/flowdps/{{pset}}/{{method}}/phase.mrcs",
        table=f"{RESULTS}/flowdps/{{pset}}/{{method}}/particles.csv",
    log:
        f"{LOGS}/baseline/{{pset}}/{{method}}.log",
    benchmark:
        f"{BENCH}/baseline/{{pset}}/{{method}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        baseline=baseline_params,
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem baseline --method {wildcards.method} --counts {input.counts} "
        "--table {input.table} --tuned {input.tuned} --outdir {params.outdir} "
        "--params {params.baseline:q} --seed {params.seed} --log {log}"


rule evaluate_flowdps:
    input:
        unpack(particle_set_inputs),
        methods=method_results,
        tuning=tuning_results,
    output:
        metrics=report(
            f"{RESULTS}/flowdps/{{pset}}/metrics.json",
            caption="../report/metrics_flowdps.rst",
            category="FlowDPS",
            subcategory="{pset}",
        ),
        table=f"{RESULTS}/flowdps/{{pset}}/particles.csv",
    log:
        f"{LOGS}/evaluate_flowdps/{{pset}}.log",
    benchmark:
        f"{BENCH}/evaluate_flowdps/{{pset}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        methods=method_options,
        tuning=tuned_options,
        truth=truth_option,
        evaluation=evaluation_params(),
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem evaluate-flowdps --counts {input.counts} --table {input.table} "
        "{params.truth} {params.methods} {params.tuning} --outdir {params.outdir} "
        "--params {params.evaluation:q} --seed {params.seed} --log {log}"


# Metrics against dose: the test particles simulated again at each dose of
# evaluation.dose_sweep, each retrieved and evaluated like the test set (psets dose<D>).
rule dose_curve:
    input:
        metrics=dose_metrics,
    output:
        metrics=report(
            f"{RESULTS}/flowdps/dose/metrics.json",
            caption="../report/dose.rst",
            category="FlowDPS",
            subcategory="dose",
        ),
        table=f"{RESULTS}/flowdps/dose/dose.csv",
        figure=report(
            f"{RESULTS}/flowdps/dose/dose.png",
            caption="../report/dose.rst",
            category="FlowDPS",
            subcategory="dose",
        ),
    log:
        f"{LOGS}/dose_curve.log",
    benchmark:
        f"{BENCH}/dose_curve.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        sets=dose_curve_sets,
        outdir=output_folder,
        seed=config["seed"],
    shell:
        "python -m flowem dose-curve {params.sets} --outdir {params.outdir} "
        "--seed {params.seed} --log {log}"


# Ablation: FlowDPS on the test particles, one run per row of config/ablations/flowdps.tsv
# (samples, steps, dc_steps, stochasticity), on top of the tuned step size; one job per row.
rule flowdps_variant:
    input:
        unpack(particle_set_inputs),
        model=prior_model("phase"),
        tuned=expand(rules.tune_retrieval.output[0], method="flowdps"),
    output:
        metrics=f"{RESULTS}/ablations/flowdps/{{pset}}/{FLOWDPS_GRID.wildcard_pattern}/metrics.json",
    log:
        f"{LOGS}/ablations/flowdps/{{pset}}/{FLOWDPS_GRID.wildcard_pattern}.log",
    benchmark:
        f"{BENCH}/ablations/flowdps/{{pset}}/{FLOWDPS_GRID.wildcard_pattern}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        flowdps=flowdps_params(),
        override=row_overrides(FLOWDPS_GRID, shards=1),
        outdir=output_folder,
        pixel=working_pixel_size(),
        seed=config["seed"],
    shell:
        "python -m flowem flowdps --model {input.model} --counts {input.counts} "
        "--table {input.table} --tuned {input.tuned} --out {params.outdir}/shard.npz "
        "--params {params.flowdps:q} {params.override} --seed {params.seed} "
        "--log {log} && python -m flowem gather-flowdps {params.outdir}/shard.npz "
        "--pixel-size {params.pixel} --outdir {params.outdir}/flowdps --log {log} && "
        "python -m flowem evaluate-flowdps --counts {input.counts} --table {input.table} "
        "--truth {input.truth} --method flowdps={params.outdir}/flowdps "
        "--outdir {params.outdir} --log {log}"


rule ablation_specimen:
    input:
        expand(rules.evaluate_flowdps.output.metrics, pset="clean"),


rule ablation_flowdps:
    input:
        expand(
            f"{RESULTS}/ablations/flowdps/test/{{params}}/metrics.json",
            params=FLOWDPS_GRID.instance_patterns,
        ),
