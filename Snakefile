# speechalign: the whole study as one DAG. `snakemake --cores all` runs the profile named in params.yaml;
# `snakemake --cores all --config profile=small` picks another. Rules live in workflow/rules/.
from snakemake.utils import min_version

from speechalign.params import load_params
from speechalign.env import put_interpreter_on_path, set_hub_access

min_version("9.0")

report: "workflow/report/workflow.rst"  # `snakemake --report report.html`: every figure and table, by stage

# params/defaults.yaml < params/<profile>.yaml < params.yaml < --config, validated (errors name the bad key).
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
        "results/params.yaml",  # rule params_record: the params that ran
    default_target: True


# The resolved params (every layer merged, --config included) as one file: the values dvc.yaml declares for
# each DVC stage, so dvc.lock and `dvc exp show` record what ran; Snakemake rewrites it when any value changes.
rule params_record:
    output:
        report("results/params.yaml", caption="workflow/report/params.rst", category="0. Parameters"),
    log:
        "logs/params.log",
    params:
        resolved=resolved_params,
    shell:
        "python -m speechalign.params --resolved {params.resolved} --out {output} 2> {log}"


rule params:
    input:
        "results/params.yaml",
