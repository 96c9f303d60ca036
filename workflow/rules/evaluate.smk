# Stage 8, evaluate: every system (trained variants and the untrained floor per seed; the text-only upper
# bound and the Whisper cascade once) answers every benchmark suite of params evaluate.suites, one job per
# system x seed (all suites in one job); each job also records the NLL of the text system's answers under its
# own run (the behaviour match: text answers first) and, for the systems that hear audio, a mismatched-audio
# control; one job scores every answer and computes AZEROS Tables 3-7, the behaviour metrics and the paired
# comparisons of the papers' claims (the report notebook renders them). An answer job's cache
# (data/cache/evaluate/) lets an interrupted job resume; it is kept across runs, not an output, since Snakemake
# removes a job's outputs before it runs.


rule evaluate_answers:
    input:
        suites=evaluate_suite_folders,
        trained=evaluate_checkpoint,
        references=evaluate_reference_answers,
        models=evaluate_model_folders,
    output:
        "results/evaluate/answers/{system}/seed{seed}.jsonl",
    log:
        "logs/evaluate/answers/{system}/seed{seed}.log",
    benchmark:
        "logs/bench/evaluate/answers/{system}/seed{seed}.tsv"
    wildcard_constraints:
        system=r"[^/]+",
        seed=r"\d+",
    priority: 10  # the longest jobs after training: see train_variant
    threads: 2
    params:
        # what an answer job reads (batch_size changes no answer: a rerun finds every answer in its cache)
        cfg=stage_params("evaluate", ["asr", "max_new_tokens", "batch_size", "control_items"]),
        backends=backends_params,
        train=stage_params("train", ["projector_hidden", "stack"]),  # the untrained floor's architecture
        models=stage_params("models"),
        trained=evaluate_checkpoint_option,
        references=evaluate_reference_option,
        suite_items=evaluate_items_files,
    shell:
        "speechalign evaluate answer --system {wildcards.system} --seed {wildcards.seed} "
        "--items {params.suite_items} {params.trained} {params.references} --out {output} "
        "--cache data/cache/evaluate/{wildcards.system}/seed{wildcards.seed}.jsonl --evaluate-params {params.cfg} "
        "--backends-params {params.backends} --train-params {params.train} --models-params {params.models} "
        "2> {log}"


rule evaluate_score:
    input:
        suites=evaluate_suite_folders,
        answers=evaluate_answer_files(),
        models=evaluate_sbert_folder,
    output:
        scores="results/evaluate/scores.parquet",
        tables="results/evaluate/tables.csv",
        systems="results/evaluate/systems.csv",
        behaviour="results/evaluate/behaviour.parquet",
        behaviour_summary="results/evaluate/behaviour.csv",
        comparisons="results/evaluate/comparisons.csv",
        metrics="results/evaluate/metrics.json",
    log:
        "logs/evaluate/score.log",
    benchmark:
        "logs/bench/evaluate/score.tsv"
    threads: 2
    params:
        cfg=stage_params("evaluate", ["confidence", "bootstrap", "repeat_threshold"]),  # besides the answers
        models=stage_params("models"),
        seed=config["seed"],
        suite_items=evaluate_items_files,
    shell:
        "speechalign evaluate score --items {params.suite_items} --answers {input.answers} "
        "--scores {output.scores} --tables {output.tables} --systems {output.systems} --behaviour {output.behaviour} "
        "--behaviour-summary {output.behaviour_summary} --comparisons {output.comparisons} --metrics {output.metrics} --seed {params.seed} "
        "--evaluate-params {params.cfg} --models-params {params.models} 2> {log}"


rule evaluate:
    input:
        evaluate_outputs(),

