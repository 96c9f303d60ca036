# Stages 4-5, sift + train: the frozen LLM writes each mode's targets; frozen encoder features are cached once;
# each AZEROS variant's projectors are trained from them (stage 2 variants start from their stage-1 checkpoint).


rule sift_probe:
    input:
        corpus="data/corpora/paralinguistic",
        models=sift_encoder_folder,
        speaker=sift_speaker_folder,
    output:
        json="results/sift/paralinguistic_probe.json",
        tsv="results/sift/paralinguistic_probe.tsv",
    log:
        "logs/sift/paralinguistic_probe.log",
    benchmark:
        "logs/bench/sift/paralinguistic_probe.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        encoder=config["models"]["whisper"],
        speaker=sift_speaker_option,
    shell:
        "speechalign sift-probe --manifest {input.corpus} --encoder {params.encoder} {params.speaker} "
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
    threads: 2
    resources:
        mem_mb=6000,
    params:
        cfg=stage_params("sift"),
        backends=backends_params,
        llm=config["models"]["llm"],
        launcher=launcher(config["sift"]["processes"]),
    shell:
        "{params.launcher} sift-targets --manifest {input.corpus} --mode {wildcards.mode} --out {output} "
        "--cache data/cache/sift/targets/{wildcards.mode}.jsonl --llm {params.llm} "
        "--params {params.cfg} --backend-params {params.backends} 2> {log}"


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
    threads: 2
    resources:
        mem_mb=4000,
    params:
        cfg=stage_params("train", keys=["device", "paralinguistic_layer", "feature_shard_size"]),
        encoder=config["models"]["whisper"],
    shell:
        "speechalign features --manifest {input.corpus} --encoder {params.encoder} --out {output} "
        "--params {params.cfg} 2> {log}"


rule train_variant:
    input:
        targets=train_target_files,
        features=f"data/sift/features/{config['sift']['corpus']}",
        init=train_init_checkpoint,
        models=sift_llm_folder,
    output:
        model=directory("data/sift/models/{variant}/seed{seed}"),
        curve="results/train/{variant}/seed{seed}/curve.tsv",
        metrics="results/train/{variant}/seed{seed}/metrics.json",
    log:
        "logs/train/{variant}/seed{seed}.log",
    benchmark:
        "logs/bench/train/{variant}/seed{seed}.tsv"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
        seed=r"\d+",
    threads: 2
    resources:
        mem_mb=8000,
    params:
        cfg=train_variant_params,
        backends=backends_params,
        llm=config["models"]["llm"],
        encoder=config["models"]["whisper"],
        init=train_init_option,
        launcher=launcher(config["train"]["processes"]),
    shell:
        "{params.launcher} train --variant {wildcards.variant} --seed {wildcards.seed} "
        "--targets data/sift/targets --features {input.features} --out {output.model} "
        "--curves results/train/{wildcards.variant}/seed{wildcards.seed} "
        "--state data/cache/sift/state/{wildcards.variant}/seed{wildcards.seed} {params.init} --llm {params.llm} "
        "--encoder {params.encoder} --params {params.cfg} --backend-params {params.backends} 2> {log}"


rule sift_eval:
    input:
        checkpoint=trained_checkpoint,
        control=untrained_control_result,
        corpus="data/corpora/sqa",
        models=sift_llm_folder,
    output:
        "results/train/qa/{variant}/seed{seed}.json",
    log:
        "logs/train/qa/{variant}/seed{seed}.log",
    benchmark:
        "logs/bench/train/qa/{variant}/seed{seed}.tsv"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
        seed=r"\d+",
    threads: 2
    resources:
        mem_mb=6000,
    params:
        backends=backends_params,
        limit=config["train"]["qa_items"] or 1000000,
        device=config["train"]["device"],
    shell:
        "speechalign sift-eval --checkpoint {input.checkpoint} --control {input.control} "
        "--manifest {input.corpus} --out {output} --limit {params.limit} --device {params.device} "
        "--params {params.backends} 2> {log}"


rule sift_eval_untrained:
    input:
        checkpoint=untrained_architecture_checkpoint,
        corpus="data/corpora/sqa",
        models=sift_llm_folder,
    output:
        "results/train/qa/untrained-{encoders}/seed{seed}.json",
    log:
        "logs/train/qa/untrained-{encoders}/seed{seed}.log",
    wildcard_constraints:
        encoders="semantic|dual",
        seed=r"\d+",
    threads: 2
    resources:
        mem_mb=6000,
    params:
        backends=backends_params,
        limit=config["train"]["qa_items"] or 1000000,
        device=config["train"]["device"],
    shell:
        "speechalign sift-eval --untrained {input.checkpoint} --manifest {input.corpus} --out {output} "
        "--limit {params.limit} --seed {wildcards.seed} --device {params.device} --params {params.backends} 2> {log}"


rule sift:
    input:
        sift_outputs(),


rule train:
    input:
        train_outputs(),
