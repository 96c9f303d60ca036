# speechalign: the whole study as one DAG. `snakemake --cores all` runs the profile named in params.yaml;
# `snakemake --cores all --config profile=small` picks another. Rules live in workflow/rules/.
from snakemake.utils import min_version

from speechalign.params import load_params
from speechalign.env import put_interpreter_on_path, set_hub_access

min_version("9.0")

# params.yaml + params/<profile>.yaml + --config overrides, validated (errors name the bad key).
config.update(load_params(workflow.basedir, overrides=config))
set_hub_access(config["hub"]["allow"])
put_interpreter_on_path()


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/alas.smk"
include: "workflow/rules/validity.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/sift.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
        "results/checks.json",  # rule check (report.smk): none of them is missing or trivial
    default_target: True
