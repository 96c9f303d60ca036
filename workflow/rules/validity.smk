# ALAS validity: can the metric see alignment here? The aligned projector (the positive control through the real
# audio path) is trained on the fit split; then, per corpus and split, the oracle (laid out from the exact word
# times by the encoder's geometry) and its sweeps, the aligned model and the ruler to the untrained projector, the
# negatives and (on test) the placed models are scored under every normalisation of params validity. The
# normalisation and headline layer are chosen on dev and reported on test; the ALAS stage's headline uses them.


rule validity_aligned:
    input:
        corpora=validity_aligned_corpora,
        models=validity_base_folders,
    output:
        directory("data/validity/aligned"),
    log:
        "logs/validity/aligned.log",
    benchmark:
        "logs/bench/validity/aligned.tsv"
    threads: 2
    params:
        model=config["validity"]["models"][0],
        cfg=stage_params("validity", keys=["aligned", "dev_share"]),
        backends=template_params("backends"),
        seed=config["seed"],
    shell:
        "speechalign validity aligned --model {params.model} --corpora {input.corpora} --out {output} "
        "--seed {params.seed} --validity-params {params.cfg} --backends-params {params.backends} 2> {log}"


rule validity_score:
    input:
        corpus=corpus_folder,
        models=backend_model_folders,
        aligned="data/validity/aligned",
        placed=validity_placed_folders,
        selection=validity_dev_summary,
    output:
        table="results/validity/{model}/{corpus}/{split}.parquet",
        separation="results/validity/{model}/{corpus}/{split}.separation.csv",
        summary="results/validity/{model}/{corpus}/{split}.json",
    wildcard_constraints:
        split="dev|test",
    log:
        "logs/validity/{model}/{corpus}/{split}.log",
    benchmark:
        "logs/bench/validity/{model}/{corpus}/{split}.tsv"
    threads: 2
    params:
        cfg=validity_score_params,
        backends=template_params("backends"),
        seed=config["seed"],
        selection=validity_selection_option,
    shell:
        "speechalign validity score --model {wildcards.model} --corpus {input.corpus} --split {wildcards.split} "
        "--aligned {input.aligned}/projector {params.selection} --out {output.table} "
        "--separation {output.separation} --summary {output.summary} --seed {params.seed} "
        "--validity-params {params.cfg} --backends-params {params.backends} 2> {log}"


rule validity_report:
    input:
        notebook="notebooks/validity.ipynb",
        table="results/validity/{model}/{corpus}/test.parquet",
        separation="results/validity/{model}/{corpus}/test.separation.csv",
        summary="results/validity/{model}/{corpus}/test.json",
    output:
        notebook="results/validity/{model}/{corpus}/test.ipynb",
        tables=reported(expand("results/validity/{{model}}/{{corpus}}/test.{name}.{ext}", name=["controls", "ruler"], ext=["csv", "md"]), "4. validity", "validity"),
        figures=reported(expand("results/validity/{{model}}/{{corpus}}/test.{name}.{ext}", name=["sensitivity", "ruler"], ext=["png", "pdf"]), "4. validity", "validity"),
    log:
        "logs/validity/{model}/{corpus}/report.log",
    benchmark:
        "logs/bench/validity/{model}/{corpus}/report.tsv"
    shell:
        "speechalign report notebook --notebook {input.notebook} --out {output.notebook} -p table {input.table} "
        "-p separation {input.separation} -p summary {input.summary} "
        "-p folder results/validity/{wildcards.model}/{wildcards.corpus} -p stem test -p profile {config[profile]} 2> {log}"


rule validity:
    input:
        validity_outputs(),
