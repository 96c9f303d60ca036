# ALAS validity: the metric's positive control (the oracle-aligned input and its noise and jitter sweeps) and
# negative controls (mismatched transcript, reversed audio, untrained projector), scored under every
# normalisation of params validity; the default normalisation is the one that separates them best. A notebook
# turns the result into the controls table and the sensitivity figure.


rule validity_score:
    input:
        corpus=corpus_folder,
        models=backend_model_folders,
    output:
        table="results/validity/{model}/{corpus}.parquet",
        separation="results/validity/{model}/{corpus}.separation.csv",
        summary="results/validity/{model}/{corpus}.json",
    log:
        "logs/validity/{model}/{corpus}.log",
    benchmark:
        "logs/bench/validity/{model}/{corpus}.tsv"
    threads: 2
    params:
        cfg=stage_params("validity"),
        backends=template_params("backends"),
        seed=config["seed"],
    shell:
        "speechalign validity --model {wildcards.model} --corpus {input.corpus} --out {output.table} "
        "--separation {output.separation} --summary {output.summary} --seed {params.seed} "
        "--validity-params {params.cfg} --backends-params {params.backends} 2> {log}"


rule validity_report:
    input:
        notebook="notebooks/validity.ipynb",
        table="results/validity/{model}/{corpus}.parquet",
        separation="results/validity/{model}/{corpus}.separation.csv",
        summary="results/validity/{model}/{corpus}.json",
    output:
        notebook="results/validity/{model}/{corpus}.ipynb",
        tables=reported(expand("results/validity/{{model}}/{{corpus}}.controls.{ext}", ext=["csv", "md"]), "4. validity", "validity"),
        figures=reported(expand("results/validity/{{model}}/{{corpus}}.sensitivity.{ext}", ext=["png", "pdf"]), "4. validity", "validity"),
    log:
        "logs/validity/{model}/{corpus}.report.log",
    benchmark:
        "logs/bench/validity/{model}/{corpus}.report.tsv"
    shell:
        "speechalign report notebook --notebook {input.notebook} --out {output.notebook} -p table {input.table} "
        "-p separation {input.separation} -p summary {input.summary} -p folder results/validity/{wildcards.model} "
        "-p stem {wildcards.corpus} -p profile {config[profile]} 2> {log}"


rule validity:
    input:
        validity_outputs(),
