# Stages 6-7, respond + alas, one job per model and corpus (the model loaded once): each speech LLM answers the
# audio prompt and the text prompt of every utterance (greedy; SBERT agreement filter), then one prefill per
# run gives ALAS per layer per utterance against the word times of params reference.aligner, under the
# normalisation the validity stage chose on its dev split (params alas.normalisation: selected) and under the
# paper's raw cosine beside it. The responses are also kept in data/cache/alas/ (not an output: Snakemake
# deletes outputs before a job runs), so a change on the scoring side alone reuses them.


rule alas_measure:
    input:
        corpus=corpus_folder,
        reference=f"data/reference/{config['reference']['aligner']}/{{corpus}}.jsonl.gz",
        models=backend_model_folders,
        selection=alas_selection,
    output:
        responses="results/responses/{model}/{corpus}.parquet",
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
        sbert=config["models"]["sbert"],
        selection=alas_selection_option,
        seed=config["seed"],
    shell:
        "speechalign alas measure --model {wildcards.model} --corpus {input.corpus} --responses {output.responses} "
        "--reference {input.reference} {params.selection} --out {output.table} --summary {output.summary} "
        "--examples {output.examples} --sbert {params.sbert} --cache data/cache/alas/{wildcards.model}/{wildcards.corpus} "
        "--seed {params.seed} --alas-params {params.cfg} "
        "--backends-params {params.backends} --validity-params {params.validity} 2> {log}"


rule alas:
    input:
        alas_outputs(),
