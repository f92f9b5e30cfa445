# Stage 1, data: fetch structures and particle data (cache -> mirror -> HTTPS), check them.


rule fetch_structure:
    output:
        "resources/pdb/{pdb_id}.pdb",
    log:
        f"{LOGS}/fetch_structure/{{pdb_id}}.log",
    benchmark:
        f"{BENCH}/fetch_structure/{{pdb_id}}.tsv"
    conda:
        "../../envs/flowem.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=15,
    params:
        fetch=fetch_params(),
    shell:
        "python -m flowem fetch pdb/{wildcards.pdb_id}.pdb --out {output} --params {params.fetch:q} --log {log}"


rule check_structure:
    input:
        f"resources/pdb/{PDB_ID}.pdb",
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
    conda:
        "../../envs/flowem.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        structure=structure_params(),
        seed=config["seed"],
    shell:
        "python -m flowem check-structure {input} --model-out {output.model} "
        "--summary-out {output.summary} --params {params.structure:q} "
        "--seed {params.seed} --log {log}"


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
        structure=structure_variant_params,
        seed=config["seed"],


rule ablation_structure:
    input:
        expand(
            f"{RESULTS}/ablations/structure/{{params}}/summary.csv",
            params=STRUCTURE_GRID.instance_patterns,
        ),
