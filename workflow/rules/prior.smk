# Stage 2, prior: flow-matching U-Nets on phase maps (kind=phase) and EM patches (kind=em);
# kind=em_diffusion is the EM prior's diffusion rival (same data, network and budget; an
# epsilon-prediction objective), sampled through the same velocity interface.
# The training state results/prior/<kind>/checkpoint/last.pt is not a declared output, so an
# interrupted or failed job keeps it and the rerun resumes from it.


include: "functions/prior.smk"


rule train_prior:
    input:
        train=prior_training_data,
        val=prior_validation_data,
    output:
        model=f"{RESULTS}/prior/{{kind}}/model.pt",
        loss=f"{RESULTS}/prior/{{kind}}/loss.csv",
        curve=report(
            f"{RESULTS}/prior/{{kind}}/loss.png",
            caption="../report/loss_curve.rst",
            category="Prior",
            subcategory="{kind}",
        ),
    log:
        f"{LOGS}/train_prior/{{kind}}.log",
    benchmark:
        f"{BENCH}/train_prior/{{kind}}.tsv"
    priority: 10
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        train=prior_train_params,
        launcher=prior_launcher(),
        checkpoint=prior_checkpoint,
        seed=config["seed"],
    shell:
        "{params.launcher} --train {input.train} --val {input.val} "
        "--checkpoint {params.checkpoint} --model {output.model} --loss-csv {output.loss} "
        "--loss-plot {output.curve} --threads {threads} --params {params.train:q} "
        "--seed {params.seed} --log {log}"


rule sample_prior:
    input:
        model=rules.train_prior.output.model,
        heldout=prior_validation_data,
    output:
        samples=f"{RESULTS}/prior/{{kind}}/samples.mrcs",
        montage=report(
            f"{RESULTS}/prior/{{kind}}/samples.png",
            caption="../report/prior_samples.rst",
            category="Prior",
            subcategory="{kind}",
        ),
        metrics=report(
            f"{RESULTS}/prior/{{kind}}/metrics.json",
            caption="../report/metrics_prior.rst",
            category="Prior",
            subcategory="{kind}",
        ),
    log:
        f"{LOGS}/sample_prior/{{kind}}.log",
    benchmark:
        f"{BENCH}/sample_prior/{{kind}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: cluster_threads
    resources:
        **CLUSTER_RESOURCES,
    params:
        sample=prior_sample_params,
        seed=config["seed"],
    shell:
        "python -m flowem sample-prior --model {input.model} --heldout {input.heldout} "
        "--samples {output.samples} --montage {output.montage} --metrics {output.metrics} "
        "--threads {threads} --params {params.sample:q} --seed {params.seed} --log {log}"
