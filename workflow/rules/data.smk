# Stage 2, data: the embedded corpora (synthesised offline with exact word times) and the real corpora
# loaded from their published layouts, all into data/corpora/<corpus>/ (speechalign.data.manifest).


rule data_embedded:
    output:
        corpus=directory("data/corpora/{corpus}"),
        card="results/data/{corpus}.md",
    log:
        "logs/data/{corpus}.log",
    benchmark:
        "logs/bench/data/{corpus}.tsv"
    wildcard_constraints:
        corpus="sqa|paralinguistic|sift",
    threads: 2
    resources:
        mem_mb=4000,
    params:
        cfg=stage_params("data"),
        seed=config["seed"],
    shell:
        "speechalign data build --corpus {wildcards.corpus} --out {output.corpus} --card {output.card} "
        "--seed {params.seed} --workers {threads} --params {params.cfg} 2> {log}"


def real_corpus_inputs(wildcards):
    """The download marker of a real corpus when the active profile downloads it (LibriSQA: also
    LibriSpeech's, which holds its audio)."""
    names = [wildcards.corpus] + (["librispeech"] if wildcards.corpus == "librisqa" else [])
    return [f"data/raw/{n}/DOWNLOADED.json" for n in names if n in config["download"]["corpora"]]


def real_corpus_root(wildcards):
    root = config["data"]["real"][wildcards.corpus]
    if root is None:
        raise ValueError(f"params data.real.{wildcards.corpus} is null: name the corpus folder to load it")
    return root


def real_corpus_audio_option(wildcards):
    audio = config["data"]["real"]["librisqa_audio"]
    return f"--audio-root {audio}" if wildcards.corpus == "librisqa" and audio else ""


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
        corpus="librispeech|librisqa|iemocap|cremad|commonvoice",
    threads: 1
    resources:
        mem_mb=4000,
    params:
        cfg=stage_params("data"),
        root=real_corpus_root,
        audio=real_corpus_audio_option,
    shell:
        "speechalign data load --corpus {wildcards.corpus} --root {params.root} {params.audio} "
        "--out {output.corpus} --card {output.card} --params {params.cfg} 2> {log}"


rule data:
    input:
        expand("data/corpora/{corpus}", corpus=config["data"]["corpora"]),
        expand(
            "data/corpora/{corpus}",
            corpus=[name for name, root in config["data"]["real"].items() if root and name != "librisqa_audio"],
        ),
