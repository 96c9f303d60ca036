# Helpers shared by the rules: input functions and parameter passing. No science here.
import json
import shlex


def stage_params(section):
    """The resolved params section, shell-quoted JSON for `speechalign <stage> --params`."""
    return shlex.quote(json.dumps(config[section], sort_keys=True))


def provisioned_models():
    return expand("data/models/{model}", model=config["models"]["provision"])


def all_outputs():
    """Every final output of the active profile: what `rule all` builds."""
    return provisioned_models()
