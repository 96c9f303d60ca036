# Stages 6-7, respond + alas: each speech LLM answers the audio prompt and the text prompt of every utterance
# (greedy; SBERT agreement filter), then one prefill per run gives ALAS per layer per utterance against the
# word times of params reference.aligner, under the normalisation the validity stage chose on its dev split
# (params alas.normalisation: selected) and under the paper's raw cosine beside it.


rule respond:
    input:
        corpus=corpus_folder,
        models=backend_model_folders,
    output:
        "results/responses/{model}/{corpus}.parquet",
    log:
        "logs/respond/{model}/{corpus}.log",
    benchmark:
        "logs/bench/respond/{model}/{corpus}.tsv"
    threads: 2
    params:
        cfg=template_params("backends"),
        alas=stage_params("alas", keys=["split", "max_utterances", "threshold"]),
        sbert=config["models"]["sbert"],
        seed=config["seed"],
    shell:
        "speechalign alas respond --model {wildcards.model} --corpus {input.corpus} --out {output} "
        "--sbert {params.sbert} --seed {params.seed} --backends-params {params.cfg} --alas-params {params.alas} 2> {log}"


rule alas_score:
    input:
        corpus=corpus_folder,
        responses="results/responses/{model}/{corpus}.parquet",
        reference=f"data/reference/{config['reference']['aligner']}/{{corpus}}.jsonl.gz",
        models=backend_model_folders,
        selection=alas_selection,
    output:
        table="results/alas/{model}/{corpus}.parquet",
        summary="results/alas/{model}/{corpus}.json",
        examples="results/alas/{model}/{corpus}.examples.npz",
    log:
        "logs/alas/{model}/{corpus}.log",
    benchmark:
        "logs/bench/alas/{model}/{corpus}.tsv"
    threads: 2
    params:
        cfg=stage_params("alas"),
        backends=template_params("backends"),
        validity=stage_params("validity", keys=["components"]),
        selection=alas_selection_option,
        seed=config["seed"],
    shell:
        "speechalign alas score --model {wildcards.model} --corpus {input.corpus} --responses {input.responses} "
        "--reference {input.reference} {params.selection} --out {output.table} --summary {output.summary} --examples {output.examples} --seed {params.seed} "
        "--alas-params {params.cfg} --backends-params {params.backends} --validity-params {params.validity} 2> {log}"


rule alas:
    input:
        alas_outputs(),
