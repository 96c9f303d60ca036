# Stage 9, report: papermill notebooks (notebooks/) turn results into results/tables and results/figures;
# the executed notebooks are kept under results/notebooks/. Notebooks take only paths and the profile.


rule report_corpora:
    input:
        notebook="notebooks/corpora.ipynb",
        corpora=embedded_corpus_folders(),
    output:
        notebook="results/notebooks/corpora.ipynb",
        tables=expand("results/tables/corpora.{ext}", ext=["csv", "md"]),
        figures=expand("results/figures/corpora_durations.{ext}", ext=["png", "pdf"]),
    log:
        "logs/report/corpora.log",
    params:
        corpora=shlex.quote(json.dumps(embedded_corpus_folders())),
    shell:
        "speechalign report --notebook {input.notebook} --out {output.notebook} -p corpora {params.corpora} "
        "-p tables results/tables -p figures results/figures -p profile {config[profile]} 2> {log}"


rule report:
    input:
        report_outputs(),
