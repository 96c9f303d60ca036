# Helpers shared by the rules: input functions and parameter passing. No science here.
import json
import shlex


def stage_params(section):
    """The resolved params section, shell-quoted JSON for `speechalign <stage> --params`."""
    return shlex.quote(json.dumps(config[section], sort_keys=True))


def provisioned_models():
    return expand("data/models/{model}", model=config["models"]["provision"])


def download_markers():
    """The marker of every corpus the active profile downloads or registers (none for the embedded default)."""
    return expand("data/raw/{corpus}/DOWNLOADED.json", corpus=config["download"]["corpora"])


def downloaded_corpus(corpus):
    """Input function for a rule reading data/raw/<corpus>/: its download marker when the active profile
    downloads that corpus, else nothing (the corpus folder is then the user's business)."""

    def marker(wildcards):
        return f"data/raw/{corpus}/DOWNLOADED.json" if corpus in config["download"]["corpora"] else []

    return marker


WHISPER_ALIGNERS = ("whisper-timestamped", "hf-whisper", "faster-whisper")


def reference_model_folder(wildcards):
    """The provisioned Whisper folder a Whisper aligner loads (pocketsphinx, oracle, hub ids: none)."""
    ref = config["models"]["whisper"]
    needed = wildcards.aligner in WHISPER_ALIGNERS and ref in config["models"]["provision"]
    return f"data/models/{ref}" if needed else []


def reference_files(aligners):
    """The reference files of ``aligners`` for every corpus of params ``reference``."""
    return expand(
        "data/reference/{aligner}/{corpus}.jsonl.gz", aligner=aligners, corpus=config["reference"]["corpora"]
    )


def reference_outputs():
    """ALAS's reference files (params reference.aligner) and the aligner accuracy table and figure."""
    accuracy = expand("results/reference/accuracy.{ext}", ext=["csv", "md", "png", "pdf"])
    compared = config["reference"]["compare"]
    extra = reference_files(compared) + accuracy if compared else []
    return reference_files([config["reference"]["aligner"]]) + extra


def all_outputs():
    """Every final output of the active profile: what `rule all` builds."""
    return provisioned_models() + ["data/raw/corpora.json"] + reference_outputs()
