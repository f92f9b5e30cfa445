# Stage 6, report: the summary page of every table and figure the run made, with provenance.


include: "functions/report.smk"


rule report:
    input:
        stage_targets(),
    output:
        page=report(
            f"{RESULTS}/report/index.html",
            caption="../report/summary_page.rst",
            category="Report",
        ),
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        report=report_params(),
        results=results_root,
        cache=config["data"]["cache_dir"],
        seed=config["seed"],
    shell:
        "python -m flowem report --results {params.results} --out {output.page} "
        "--resources {params.cache} --params {params.report:q} --seed {params.seed} --log {log}"
