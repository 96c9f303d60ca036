# Stage 5, train: each AZEROS variant's projectors trained from the cached features and targets (stage 2
# variants start from their stage-1 checkpoint); each checkpoint and its untrained control answer held-out
# spoken QA. The trainer's resume state (data/cache/sift/state/) is kept across runs, not an output (Snakemake
# removes a job's outputs before it runs).


rule train_variant:
    input:
        targets=train_target_files,
        features=f"data/sift/features/{config['sift']['corpus']}",
        init=train_init_checkpoint,
        models=sift_llm_folder,
    output:
        model=directory("data/sift/models/{variant}/seed{seed}"),
        curve=reported("results/train/{variant}/seed{seed}/curve.tsv", "6. train", "train_curve"),
        metrics="results/train/{variant}/seed{seed}/metrics.json",
    log:
        "logs/train/{variant}/seed{seed}.log",
    benchmark:
        "logs/bench/train/{variant}/seed{seed}.tsv"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
        seed=r"\d+",
    priority: 40  # the longest chain (targets, features, training, the answers): started first, the
    # short jobs fill the other core (Snakemake otherwise prefers the jobs with the largest inputs)
    threads: 2
    params:
        cfg=train_variant_params,
        backends=backends_params,
        llm=config["models"]["llm"],
        encoder=config["models"]["whisper"],
        init=train_init_option,
        launcher=launcher(config["train"]["processes"]),
    shell:
        "{params.launcher} train fit --variant {wildcards.variant} --seed {wildcards.seed} "
        "--targets data/sift/targets --features {input.features} --out {output.model} "
        "--curves results/train/{wildcards.variant}/seed{wildcards.seed} "
        "--state data/cache/sift/state/{wildcards.variant}/seed{wildcards.seed} {params.init} --llm {params.llm} "
        "--encoder {params.encoder} --train-params {params.cfg} --backends-params {params.backends} "
        "--live {config[train][live]} 2> {log}"  # live curves: not a param, so toggling retrains nothing


rule train_spoken_qa:
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
    params:
        backends=backends_params,
        intervals=stage_params("evaluate", ["confidence", "bootstrap"]),
        limit=config["train"]["qa_items"] or 1000000,
        device=config["train"]["device"],
    shell:
        "speechalign train spoken-qa --checkpoint {input.checkpoint} --control {input.control} "
        "--manifest {input.corpus} --out {output} --limit {params.limit} --device {params.device} "
        "--backends-params {params.backends} --evaluate-params {params.intervals} 2> {log}"


rule train_spoken_qa_untrained:
    input:
        checkpoint=untrained_architecture_checkpoint,
        corpus="data/corpora/sqa",
        models=sift_llm_folder,
    output:
        "results/train/qa/untrained-{encoders}/seed{seed}.json",
    log:
        "logs/train/qa/untrained-{encoders}/seed{seed}.log",
    benchmark:
        "logs/bench/train/qa/untrained-{encoders}/seed{seed}.tsv"
    wildcard_constraints:
        encoders=ENCODERS_PATTERN,
        seed=r"\d+",
    threads: 2
    params:
        backends=backends_params,
        intervals=stage_params("evaluate", ["confidence", "bootstrap"]),
        limit=config["train"]["qa_items"] or 1000000,
        device=config["train"]["device"],
    shell:
        "speechalign train spoken-qa --untrained {input.checkpoint} --manifest {input.corpus} --out {output} "
        "--limit {params.limit} --seed {wildcards.seed} --device {params.device} --backends-params {params.backends} --evaluate-params {params.intervals} 2> {log}"


rule train:
    input:
        train_outputs(),
