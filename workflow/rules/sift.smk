# Stage 4, sift: the frozen LLM writes each mode's targets (resumable: the cache under data/cache/sift/targets/
# is kept across runs, not an output, since Snakemake removes a job's outputs before it runs); frozen encoder
# features are cached once; the paralinguistic encoder probe measures which encoder to use.


rule sift_probe:
    input:
        corpus="data/corpora/paralinguistic",
        models=sift_encoder_folder,
        speaker=sift_speaker_folder,
    output:
        json="results/sift/paralinguistic_probe.json",
        tsv=reported("results/sift/paralinguistic_probe.tsv", "5. sift", "sift_probe"),
    log:
        "logs/sift/paralinguistic_probe.log",
    benchmark:
        "logs/bench/sift/paralinguistic_probe.tsv"
    threads: 2
    params:
        encoder=config["models"]["whisper"],
        speaker=sift_speaker_option,
    shell:
        "speechalign sift probe --manifest {input.corpus} --encoder {params.encoder} {params.speaker} "
        "--out {output.json} 2> {log}"


rule sift_targets:
    input:
        corpus=f"data/corpora/{config['sift']['corpus']}",
        models=sift_llm_folder,
    output:
        "data/sift/targets/{mode}.jsonl",
    log:
        "logs/sift/targets/{mode}.log",
    benchmark:
        "logs/bench/sift/targets/{mode}.tsv"
    priority: 50  # the training jobs wait on it: see train_variant
    threads: 2
    params:
        cfg=stage_params("sift"),
        backends=backends_params,
        llm=config["models"]["llm"],
        launcher=launcher(config["sift"]["processes"]),
    shell:
        "{params.launcher} sift targets --manifest {input.corpus} --mode {wildcards.mode} --out {output} "
        "--cache data/cache/sift/targets/{wildcards.mode}.jsonl --llm {params.llm} "
        "--sift-params {params.cfg} --backends-params {params.backends} 2> {log}"


rule sift_features:
    input:
        corpus="data/corpora/{corpus}",
        models=sift_encoder_folder,
    output:
        directory("data/sift/features/{corpus}"),
    log:
        "logs/sift/features/{corpus}.log",
    benchmark:
        "logs/bench/sift/features/{corpus}.tsv"
    priority: 50  # the training jobs wait on it: see train_variant
    threads: 2
    params:
        cfg=stage_params("train", keys=["device", "paralinguistic_layer", "feature_shard_size"]),
        encoder=config["models"]["whisper"],
    shell:
        "speechalign sift features --manifest {input.corpus} --encoder {params.encoder} --out {output} "
        "--train-params {params.cfg} 2> {log}"


rule sift:
    input:
        sift_outputs(),
