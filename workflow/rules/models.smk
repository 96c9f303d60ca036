# Stage 1, models: pinned offline weights (models.lock.yaml), verified and converted.


rule model:
    output:
        directory("data/models/{model}"),
    log:
        "logs/models/{model}.log",
    benchmark:
        "logs/bench/models/{model}.tsv"
    threads: 2
    params:
        lock=config["models"]["lock"],
        entry=model_lock_entry,  # only this model's entry: editing another one reprovisions nothing here
    shell:
        "speechalign models --lock {params.lock} --name {wildcards.model} --out {output} "
        "--cache data/cache/wheels 2> {log}"


rule models:
    input:
        provisioned_models(),
