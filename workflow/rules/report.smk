# Stage 9, report: papermill notebooks (notebooks/) turn results into results/tables and results/figures;
# the executed notebooks are kept under results/notebooks/. Notebooks take only paths and the profile.


rule report_corpora:
    input:
        notebook="notebooks/corpora.ipynb",
        corpora=embedded_corpus_folders(),
    output:
        notebook="results/notebooks/corpora.ipynb",
        tables=reported(expand("results/tables/corpora.{ext}", ext=["csv", "md"]), "1. data", "corpora"),
        figures=reported(expand("results/figures/corpora_durations.{ext}", ext=["png", "pdf"]), "1. data", "corpora"),
    log:
        "logs/report/corpora.log",
    benchmark:
        "logs/bench/report/corpora.tsv"
    params:
        corpora=json_list(embedded_corpus_folders()),
    shell:
        "speechalign report notebook --notebook {input.notebook} --out {output.notebook} -p corpora {params.corpora} "
        "-p tables results/tables -p figures results/figures -p profile {config[profile]} 2> {log}"


rule report:
    input:
        report_outputs(),


rule report_alas:
    input:
        notebook="notebooks/alas.ipynb",
        summaries=alas_files("json"),
        examples=alas_files("examples.npz"),
        responses=response_files(),
        validity=validity_test_summaries(),
    output:
        notebook="results/notebooks/alas.ipynb",
        tables=reported(expand("results/tables/alas_{name}.{ext}", name=ALAS_TABLES, ext=["csv", "md"]), "3. alas", "alas_tables"),
        figures=reported(alas_figures(), "3. alas", "alas_figures"),
        plots=alas_plot_files(),
    log:
        "logs/report/alas.log",
    benchmark:
        "logs/bench/report/alas.tsv"
    params:
        summaries=json_list(alas_files("json")),
        examples=json_list(alas_files("examples.npz")),
        responses=json_list(response_files()),
        validity=json_list(validity_test_summaries()),
    shell:
        "speechalign report notebook --notebook {input.notebook} --out {output.notebook} -p summaries {params.summaries} "
        "-p examples {params.examples} -p responses {params.responses} -p validity {params.validity} -p corpora_dir data/corpora "
        "-p tables results/tables -p figures results/figures -p plots results/plots/alas_by_layer "
        "-p profile {config[profile]} 2> {log}"


rule report_sift:
    input:
        notebook="notebooks/sift.ipynb",
        targets=sift_target_files(),
        curves=expand("{folder}/curve.tsv", folder=train_curve_folders()),
        qa=sift_qa_files(),
    output:
        notebook="results/notebooks/sift.ipynb",
        tables=reported(expand("results/tables/sift_{name}.{ext}", name=SIFT_TABLES, ext=["csv", "md"]), "5. sift", "sift_tables"),
        figures=reported(expand("results/figures/sift_training_curves.{ext}", ext=["png", "pdf"]), "6. train", "train_curves"),
    log:
        "logs/report/sift.log",
    benchmark:
        "logs/bench/report/sift.tsv"
    params:
        targets=json_list(sift_target_files()),
        curves=json_list(train_curve_folders()),
        qa=json_list(sift_qa_files()),
    shell:
        "speechalign report notebook --notebook {input.notebook} --out {output.notebook} -p targets {params.targets} "
        "-p curves {params.curves} -p qa {params.qa} "
        "-p tables results/tables -p figures results/figures -p profile {config[profile]} 2> {log}"


rule report_evaluate:
    input:
        notebook="notebooks/evaluate.ipynb",
        scores="results/evaluate/scores.parquet",
        tables="results/evaluate/tables.csv",
        systems="results/evaluate/systems.csv",
        metrics="results/evaluate/metrics.json",
        alas=paradigm_alas_files(),
        layer_trend="results/tables/alas_layer_trend.csv",
    output:
        notebook="results/notebooks/evaluate.ipynb",
        tables=reported(evaluate_report_tables(), "7. evaluate", "evaluate_tables"),
        figures=reported(expand("results/figures/{name}.{ext}", name=EVALUATE_FIGURES, ext=["png", "pdf"]), "7. evaluate", "evaluate_figures"),
    log:
        "logs/report/evaluate.log",
    benchmark:
        "logs/bench/report/evaluate.tsv"
    params:
        alas=json_map(paradigm_alas_summaries()),
    shell:
        "speechalign report notebook --notebook {input.notebook} --out {output.notebook} -p scores {input.scores} "
        "-p azeros_tables {input.tables} -p systems {input.systems} -p metrics {input.metrics} "
        "-p alas {params.alas} -p layer_trend {input.layer_trend} -p tables results/tables -p figures results/figures -p profile {config[profile]} "
        "2> {log}"


# Every executed notebook as one HTML page (nbconvert), beside it: `snakemake --report` shows them under
# "8. notebooks", and a browser opens them without Jupyter.
rule notebook_html:
    input:
        "{notebook}.ipynb",
    output:
        report("{notebook}.html", caption="../report/notebook.rst", category="8. notebooks"),
    log:
        "logs/report/html/{notebook}.log",
    benchmark:
        "logs/bench/report/html/{notebook}.tsv"
    wildcard_constraints:
        notebook=r"results/(notebooks|validity)/.+",
    shell:
        "jupyter nbconvert --to html --stdout {input} > {output} 2> {log}"


# The last step of `snakemake all`: every final output of the active profile (all_outputs(), the DAG's own
# list) exists and is not trivial: figures decode and are not blank, tables have rows and no all-missing
# column, JSON numbers are finite, notebooks ran without an error cell (speechalign.report.check). Writes
# results/checks.json, or fails naming each bad output.


rule check:
    input:
        all_outputs(),
    output:
        "results/checks.json",
    log:
        "logs/check.log",
    benchmark:
        "logs/bench/check.tsv"
    shell:
        "speechalign report check --out {output} {input} 2> {log}"
