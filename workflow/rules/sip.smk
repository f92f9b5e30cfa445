# Stage 5, SIP: cryo-EM as a stochastic inverse problem, by particle Wasserstein gradient flows.


include: "functions/sip.smk"


rule sip_fit:
    input:
        structure=sip_structure,
    output:
        metrics=report(
            f"{RESULTS}/sip/{{experiment}}/metrics.json",
            caption="../report/metrics_sip.rst",
            category="SIP",
            subcategory="{experiment}",
        ),
    log:
        f"{LOGS}/sip_fit/{{experiment}}.log",
    benchmark:
        f"{BENCH}/sip_fit/{{experiment}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        sip=sip_params,
        outdir=output_folder,
        structure=sip_structure_option,
        seed=config["seed"],
    shell:
        "python -m flowem sip-fit --experiment {wildcards.experiment} --outdir {params.outdir} "
        "{params.structure} --params {params.sip:q} --seed {params.seed} "
        "--threads {threads} --no-progress --log {log}"


rule sip_summary:
    input:
        metrics=sip_metrics,
    output:
        table=report(
            f"{RESULTS}/sip/summary.csv",
            caption="../report/sip_summary.rst",
            category="SIP",
            subcategory="summary",
        ),
        json=f"{RESULTS}/sip/summary.json",
        methods=report(
            f"{RESULTS}/sip/methods.csv",
            caption="../report/sip_methods.rst",
            category="SIP",
            subcategory="summary",
        ),
    log:
        f"{LOGS}/sip_summary.log",
    benchmark:
        f"{BENCH}/sip_summary.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        outdir=output_folder,
    shell:
        "python -m flowem.sip.summary {input.metrics} --outdir {params.outdir} --log {log}"
