# Stage 3, reference: word times of every transcript word from a Whisper aligner (or pocketsphinx, or the
# exact synthesised times), and each aligner's error against the exact times.


wildcard_constraints:
    aligner=ALIGNER_PATTERN,


rule reference_align:
    input:
        corpus="data/corpora/{corpus}",
        model=reference_model_folder,
    output:
        "data/reference/{aligner}/{corpus}.jsonl.gz",
    log:
        "logs/reference/{aligner}/{corpus}.log",
    benchmark:
        "logs/bench/reference/{aligner}/{corpus}.tsv"
    threads: 2
    params:
        cfg=stage_params(
            "reference", keys=["split", "max_utterances", "whole_corpora", "beam_size", "language", "device"]
        ),
        whisper=config["models"]["whisper"],
    shell:
        "speechalign reference align --corpus {input.corpus} --aligner {wildcards.aligner} "
        "--whisper {params.whisper} --threads {threads} --out {output} --reference-params {params.cfg} 2> {log}"


rule reference_accuracy:
    input:
        corpora=expand("data/corpora/{corpus}", corpus=config["reference"]["corpora"]),
        references=reference_files(config["reference"]["compare"], config["reference"]["corpora"]),
    output:
        csv=reported("results/reference/accuracy.csv", "2. reference", "reference"),
        md="results/reference/accuracy.md",
        png=reported("results/reference/accuracy.png", "2. reference", "reference"),
        pdf="results/reference/accuracy.pdf",
    log:
        "logs/reference/accuracy.log",
    benchmark:
        "logs/bench/reference/accuracy.tsv"
    params:
        cfg=stage_params("reference", keys=["tolerances_ms"]),
        out_dir="results/reference",
    shell:
        "speechalign reference accuracy --corpus {input.corpora} --reference {input.references} "
        "--out-dir {params.out_dir} --reference-params {params.cfg} 2> {log}"


rule reference:
    input:
        reference_outputs(),
