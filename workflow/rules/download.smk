# Stage 0, download: public corpora into data/raw/<corpus>/ (corpora.lock.yaml: sources, licences,
# checksums), licence-gated ones (IEMOCAP) registered from the user's copy. The embedded default needs none.


rule download_corpus:
    output:
        marker="data/raw/{corpus}/DOWNLOADED.json",
    log:
        "logs/download/{corpus}.log",
    benchmark:
        "logs/bench/download/{corpus}.tsv"
    wildcard_constraints:
        corpus="[a-z0-9]+",
    threads: 1
    params:
        cfg=stage_params("download"),
        lock=config["download"]["lock"],
        entry=corpus_lock_entry,  # only this corpus's entry: editing another one refetches nothing here
    shell:
        "speechalign download corpus --name {wildcards.corpus} --lock {params.lock} --out {output.marker} "
        "--cache data/cache/downloads --download-params {params.cfg} 2> {log}"


rule download_index:
    input:
        markers=download_markers(),
    output:
        "data/raw/corpora.json",
    log:
        "logs/download/index.log",
    benchmark:
        "logs/bench/download/index.tsv"
    threads: 1
    shell:
        "speechalign download index --out {output} {input.markers} 2> {log}"


rule download:
    input:
        rules.download_index.output,
