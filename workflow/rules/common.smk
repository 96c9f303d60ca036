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


def all_outputs():
    """Every final output of the active profile: what `rule all` builds."""
    return provisioned_models() + ["data/raw/corpora.json"]
