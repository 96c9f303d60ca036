# The last step of `snakemake all`: every final output of the active profile (all_outputs(), the DAG's own
# list) exists and is not trivial: figures decode and are not blank, tables have rows and no all-missing
# column, JSON numbers are finite, notebooks ran without an error cell (speechalign.report.check). Writes
# results/checks.json, or fails naming each bad output.


rule check:
    input:
        all_outputs(),
    output:
        "results/checks.json",
    log:
        "logs/check.log",
    resources:
        mem_mb=2000,
    shell:
        "speechalign check --out {output} {input} 2> {log}"
