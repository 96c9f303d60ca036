# Helpers shared by the rules: input functions and parameter passing. No science here. Lists of names
# (corpora, aligners) come from the package, the one place that defines them.
import json
import re
import shlex

from speechalign.data import BENCHMARKS, EMBEDDED, REAL
from speechalign.reference.aligners import WHISPER_ALIGNERS
from speechalign.reference.build import REFERENCES

ALIGNER_PATTERN = "|".join(map(re.escape, REFERENCES))
SYNTHESISED_PATTERN = "|".join(c for c in EMBEDDED if c != "bench")  # bench has its own rule (data_bench)
LOADED_PATTERN = "|".join(REAL + BENCHMARKS)


def quoted_json(value):
    """Shell-quoted canonical JSON, for a command's --params or a notebook parameter."""
    return shlex.quote(json.dumps(value, sort_keys=True))


def stage_params(section, keys=None):
    """The resolved params section (only ``keys`` when given), shell-quoted JSON for `speechalign <stage>
    --params`. Snakemake reruns a job when its params change, so a rule whose command reads only some keys
    passes only those: changing another one of the section reruns nothing there."""
    return quoted_json(config[section] if keys is None else {key: config[section][key] for key in keys})


def resolved_params(wildcards):
    """Every resolved param (the Snakefile's config) as JSON; a function, since templates such as
    {question} would otherwise read as wildcards."""
    return quoted_json(config)


REPORTED = (".png", ".csv", ".tsv")  # what `snakemake --report` shows; .pdf and .md twins stay out of it


def reported(paths, category, caption):
    """``paths`` (one path or a list) with their figures and tables marked for `snakemake --report`:
    under ``category`` (the stage, numbered in DAG order) with workflow/report/<caption>.rst, whose Jinja says
    what they show and which params made them. Call it from a rule file (captions resolve from there)."""
    def mark(path):  # (a line may not open with `report(` in a .smk file: it reads as the keyword)
        return report(path, caption=f"../report/{caption}.rst", category=category) if path.endswith(REPORTED) else path

    return mark(paths) if isinstance(paths, str) else [mark(p) for p in paths]


def lock_entry(entry):
    """A lock file's entry as canonical JSON, for a rule's params: Snakemake reruns a job when its params
    change, so editing one entry reprovisions that entry alone (the lock file as input would redo them all)."""
    import dataclasses

    return json.dumps(dataclasses.asdict(entry), sort_keys=True, default=str)


def model_lock_entry(wildcards):
    from speechalign.models.lock import locked_model

    return lock_entry(locked_model(config["models"]["lock"], wildcards.model))


def corpus_lock_entry(wildcards):
    from speechalign.download.lock import corpus_spec, read_lock

    return lock_entry(corpus_spec(read_lock(config["download"]["lock"]), wildcards.corpus))


def provisioned_models():
    return expand("data/models/{model}", model=config["models"]["provision"])


def provisioned(*refs):
    """The provisioned folders (data/models/<entry>) of the model references that are lock entries of params
    models.provision; hub ids, local folders and None need none. Every input function for models asks this."""
    return [f"data/models/{ref}" for ref in refs if ref in config["models"]["provision"]]


def download_markers():
    """The marker of every corpus the active profile downloads or registers (none for the embedded default)."""
    return expand("data/raw/{corpus}/DOWNLOADED.json", corpus=config["download"]["corpora"])


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


def template_params(section):
    """``stage_params(section)`` as a params function: the section holds format templates ({speech},
    {question}) that Snakemake would otherwise read as wildcards."""
    value = stage_params(section)

    def get(wildcards):
        return value

    return get


# Keys of the data section that belong to one corpus; the others (voices, styles, rates, rhythm) are shared.
CORPUS_OWN_KEYS = ("corpora", "sqa", "paralinguistic", "sift", "bench", "real", "airbench_tasks")


def corpus_data_params(corpus=None):
    """The data section as one corpus reads it (``corpus``, else the ``{corpus}`` wildcard), as a params
    function: the shared keys and the corpus's own, so that changing one corpus's sizes rebuilds that corpus
    only (Snakemake reruns a job whose params changed). The sift corpus reads the paralinguistic test voices
    too: it must not use them."""
    data = config["data"]

    def get(wildcards):
        name = corpus or wildcards.corpus
        value = {key: v for key, v in data.items() if key not in CORPUS_OWN_KEYS} | {name: data[name]}
        if name == "sift":
            value["paralinguistic"] = {"test_voices": data["paralinguistic"]["test_voices"]}
        return quoted_json(value)

    return get


def corpus_folder(wildcards):
    """The manifest folder of corpus ``{corpus}`` (speechalign.data.manifest)."""
    return f"data/corpora/{wildcards.corpus}"


def model_folders(model):
    """The provisioned model folders that backend ``model`` loads (hub ids and local folders: none), and its
    ``projector:`` folder (a SIFT checkpoint the train rule builds, or the aligned projector the validity stage
    trains, so that it is built before the model answers). A SALMONN entry's hand-downloaded BEATs and SALMONN
    files are not inputs: the dry run of the paper profile stays whole, and the backend names the missing file
    and where to get it when the job runs."""
    spec = config["backends"]["models"][model]
    folders = provisioned(*[spec.get(role) for role in ("llm", "encoder", "model")], config["models"]["sbert"])
    return folders + ([projector_rule_output(spec["projector"])] if spec.get("projector") else [])


def projector_rule_output(folder):
    """The output a projector folder comes from: the aligned projector lies inside the validity_aligned
    rule's folder."""
    return "data/validity/aligned" if folder.startswith("data/validity/aligned/") else folder


def backend_model_folders(wildcards):
    """``model_folders`` of backend ``{model}``."""
    return model_folders(wildcards.model)


def alas_outputs():
    """ALAS tables and summaries of every (model, corpus) of params ``alas``."""
    return alas_files(["parquet", "json"])



VALIDITY_SPLITS = ["dev", "test"]
VALIDITY_REPORT = ["ipynb", "html", "controls.csv", "controls.md", "ruler.csv", "ruler.md", "sensitivity.png",
                   "sensitivity.pdf", "ruler.png", "ruler.pdf"]
VALIDITY_SCORE_KEYS = ["dev_share", "max_utterances", "normalisations", "components", "noise_scales",
                       "jitter_seconds", "negatives", "ruler", "oracle_tolerance"]


def validity_outputs():
    """The aligned projector; tables, separation and summary of every (model, corpus, split) of params
    ``validity``; the test split's notebook with its controls and ruler tables and figures."""
    scored = expand("results/validity/{model}/{corpus}/{split}.{name}", model=config["validity"]["models"],
                    corpus=config["validity"]["corpora"], split=VALIDITY_SPLITS,
                    name=["parquet", "separation.csv", "json"])
    reports = expand("results/validity/{model}/{corpus}/test.{name}", model=config["validity"]["models"],
                     corpus=config["validity"]["corpora"], name=VALIDITY_REPORT)
    return ["data/validity/aligned", *scored, *reports]


def validity_test_summaries():
    """The validity test summaries (ruler and placements) of every (model, corpus) of params ``validity``."""
    return expand("results/validity/{model}/{corpus}/test.json", model=config["validity"]["models"],
                  corpus=config["validity"]["corpora"])


def validity_aligned_corpora(wildcards):
    """The corpora whose fit split trains the aligned projector (params validity.aligned.corpora)."""
    return expand("data/corpora/{corpus}", corpus=config["validity"]["aligned"]["corpora"])


def validity_base_folders(wildcards):
    """``model_folders`` of the validity stage's base model (the first of params validity.models)."""
    return model_folders(config["validity"]["models"][0])


def validity_placed_folders(wildcards):
    """The test split places the models of params validity.place on the ruler: their folders."""
    if wildcards.split != "test":
        return []
    return [folder for model in config["validity"]["place"] for folder in model_folders(model)]


def validity_dev_summary(wildcards):
    """The test split reports the selection made on dev: the dev summary of the same model and corpus."""
    return [f"results/validity/{wildcards.model}/{wildcards.corpus}/dev.json"] if wildcards.split == "test" else []


def validity_selection_option(wildcards):
    return " ".join(f"--selection {path}" for path in validity_dev_summary(wildcards))


def validity_score_params(wildcards):
    """The validity keys a score job reads (dev does not place models: a new placed model reruns test only)."""
    keys = VALIDITY_SCORE_KEYS + (["place"] if wildcards.split == "test" else [])
    return stage_params("validity", keys=keys)


def alas_selection(wildcards):
    """The validity dev summary whose selected normalisation is the ALAS headline of corpus ``{corpus}``
    (params alas.normalisation: selected): the corpus's own when the validity stage covers it, else the first
    validity corpus's; none when alas.normalisation names a normalisation."""
    if config["alas"]["normalisation"] != "selected":
        return []
    corpora = config["validity"]["corpora"]
    corpus = wildcards.corpus if wildcards.corpus in corpora else corpora[0]
    return [f"results/validity/{config['validity']['models'][0]}/{corpus}/dev.json"]


def alas_selection_option(wildcards):
    return " ".join(f"--selection {path}" for path in alas_selection(wildcards))


def reference_model_folder(wildcards):
    """The provisioned Whisper folder a Whisper aligner loads (pocketsphinx, oracle: none)."""
    return provisioned(config["models"]["whisper"]) if wildcards.aligner in WHISPER_ALIGNERS else []


def reference_files(aligners, corpora):
    return expand("data/reference/{aligner}/{corpus}.jsonl.gz", aligner=aligners, corpus=corpora)


def reference_outputs():
    """ALAS's reference files (params reference.aligner, for the corpora of params reference and alas), and
    the compared aligners' files with the accuracy table and figure (corpora of params reference)."""
    corpora = config["reference"]["corpora"]
    alas_corpora = list(dict.fromkeys(corpora + config["alas"]["corpora"]))
    for_alas = reference_files([config["reference"]["aligner"]], alas_corpora)
    compared = config["reference"]["compare"]
    accuracy = expand("results/reference/accuracy.{ext}", ext=["csv", "md", "png", "pdf"])
    return for_alas + (reference_files(compared, corpora) + accuracy if compared else [])


def sift_llm_folder(wildcards):
    """The provisioned folder of the target writer / frozen LM."""
    return provisioned(config["models"]["llm"])


def sift_speaker_folder(wildcards):
    """The provisioned folder of params models.speaker (Resemblyzer)."""
    return provisioned(config["models"].get("speaker"))


def sift_speaker_option(wildcards):
    """`--resemblyzer-weights <folder or file>` for the probe, or nothing when params models.speaker is null."""
    ref = config["models"].get("speaker")
    if not ref:
        return ""
    return f"--resemblyzer-weights {(sift_speaker_folder(wildcards) or [ref])[0]}"


def sift_encoder_folder(wildcards):
    """The provisioned Whisper folder (the frozen encoder)."""
    return provisioned(config["models"]["whisper"])


TRAIN_RUN_LISTS = ("run", "seeds", "qa_items", "processes", "live")  # what to train, how to launch and log


def train_variant_params(wildcards):
    """params `train` as one variant's job reads it: its own variant and the stage-1 variant it starts from,
    without the lists of what to run (adding a seed or a variant, or more processes, retrains nothing)."""
    variants = config["train"]["variants"]
    init = variants[wildcards.variant]["init"]
    cfg = {key: value for key, value in config["train"].items() if key not in TRAIN_RUN_LISTS}
    cfg["variants"] = {name: variants[name] for name in [wildcards.variant, *([init] if init else [])]}
    return quoted_json(cfg)


def backends_params(wildcards):
    """params `backends` as JSON (the shared system prompt and layout); a function, for the same reason."""
    return stage_params("backends")


# Only the variants of params train.variants match {variant}: a cluster job rebuilds its DAG with its own rule
# alone, and a looser pattern would make sift_eval claim untrained-dual's result (a ruleorder does not help
# there: the rule it prefers is not allowed in that job).
VARIANT_PATTERN = "|".join(re.escape(name) for name in sorted(config["train"]["variants"]))
ENCODERS_PATTERN = "|".join(sorted({v["encoders"] for v in config["train"]["variants"].values()}))


def variant_checkpoint(variant, seed):
    """The checkpoint folder of SIFT variant ``variant`` trained with seed ``seed`` (every rule that reads a
    trained model asks this function)."""
    return f"data/sift/models/{variant}/seed{seed}"


def train_seeds():
    return config["train"]["seeds"]


def train_target_files(wildcards):
    """The target files of the modes variant ``{variant}`` mixes."""
    return expand("data/sift/targets/{mode}.jsonl", mode=config["train"]["variants"][wildcards.variant]["data"])


def train_init_checkpoint(wildcards):
    """The same seed's stage-1 checkpoint a stage-2 variant starts from (none for stage 1)."""
    init = config["train"]["variants"][wildcards.variant]["init"]
    return variant_checkpoint(init, wildcards.seed) if init else []


def train_init_option(wildcards):
    init = config["train"]["variants"][wildcards.variant]["init"]
    return f"--init {variant_checkpoint(init, wildcards.seed)}" if init else ""


def trained_checkpoint(wildcards):
    """Input function: the checkpoint of ``{variant}`` trained with ``{seed}``."""
    return variant_checkpoint(wildcards.variant, wildcards.seed)


def launcher(processes):
    """`speechalign`, or accelerate with N processes (on CPU --multi_gpu + a CPU-only state: docs/facts.md)."""
    if processes == 1:
        return "speechalign"
    return f"accelerate launch --multi_gpu --num_processes {processes} --num_machines 1 -m speechalign.cli"



def sift_outputs():
    """Targets of every mode of params sift, the corpus features and the paralinguistic encoder probe."""
    return (
        expand("data/sift/targets/{mode}.jsonl", mode=config["sift"]["modes"])
        + [f"data/sift/features/{config['sift']['corpus']}"]
        + ["results/sift/paralinguistic_probe.json", "results/sift/paralinguistic_probe.tsv"]
    )


def untrained_architecture_checkpoint(wildcards):
    """A trained checkpoint (same seed) with the architecture of the untrained control (its weights are not
    used)."""
    run, variants = config["train"]["run"], config["train"]["variants"]
    same = [v for v in run if variants[v]["encoders"] == wildcards.encoders]
    return variant_checkpoint(same[0], wildcards.seed)


def untrained_control_result(wildcards):
    """The untrained control's spoken-QA result (same encoders, same seed) a trained variant is paired with."""
    encoders = config["train"]["variants"][wildcards.variant]["encoders"]
    return f"results/train/qa/untrained-{encoders}/seed{wildcards.seed}.json"


def untrained_controls():
    kinds = {config["train"]["variants"][v]["encoders"] for v in config["train"]["run"]}
    return expand("results/train/qa/untrained-{encoders}/seed{seed}.json", encoders=sorted(kinds), seed=train_seeds())


def train_curve_folders():
    """results/train/<variant>/seed<seed>: curve.tsv and metrics.json of every variant and seed."""
    return expand("results/train/{variant}/seed{seed}", variant=config["train"]["run"], seed=train_seeds())


def train_outputs():
    """Checkpoint, curve and metrics of every variant of params train.run and every seed; spoken-QA scores of
    each and of the untrained controls."""
    run = config["train"]["run"]
    return (
        [variant_checkpoint(v, s) for v in run for s in train_seeds()]
        + expand("{folder}/{name}", folder=train_curve_folders(), name=["curve.tsv", "metrics.json"])
        + sift_qa_files()
    )


def embedded_corpus_folders():
    """The manifest folders of the embedded corpora of the active profile."""
    return expand("data/corpora/{corpus}", corpus=config["data"]["corpora"])


def real_corpus_folders():
    """The manifest folders of the real corpora params ``data.real`` gives a folder for."""
    named = [name for name, root in config["data"]["real"].items() if root and name != "librisqa_audio"]
    return expand("data/corpora/{corpus}", corpus=named)


def json_list(paths):
    """Shell-quoted JSON list, for a notebook parameter."""
    return quoted_json(list(paths))


def alas_files(ext):
    """results/alas/{model}/{corpus}.{ext} for every (model, corpus) of params ``alas``."""
    return expand("results/alas/{model}/{corpus}.{ext}", model=config["alas"]["models"],
                  corpus=config["alas"]["corpora"], ext=ext)


def response_files():
    return expand("results/responses/{model}/{corpus}.parquet", model=config["alas"]["models"],
                  corpus=config["alas"]["corpora"])


ALAS_TABLES = ["by_layer", "layer_trend", "response_agreement", "emotion_accuracy", "ruler"]


def alas_plot_files():
    """DVC plot sources of ALAS by layer: results/plots/alas_by_layer/{corpus}/{model}.tsv."""
    return expand("results/plots/alas_by_layer/{corpus}/{model}.tsv", model=config["alas"]["models"],
                  corpus=config["alas"]["corpora"])


def alas_figures():
    heatmaps = expand("results/figures/alas_heatmaps_{model}_{corpus}", model=config["alas"]["models"],
                      corpus=config["alas"]["corpora"])
    return expand("{stem}.{ext}", stem=["results/figures/alas_by_layer", *heatmaps], ext=["png", "pdf"])


SIFT_TABLES = ["target_statistics", "target_examples", "spoken_qa"]


def sift_target_files():
    return expand("data/sift/targets/{mode}.jsonl", mode=config["sift"]["modes"])


def sift_qa_files():
    """Spoken-QA scores of every trained variant and of the untrained controls, per seed."""
    trained = expand("results/train/qa/{variant}/seed{seed}.json", variant=config["train"]["run"], seed=train_seeds())
    return trained + untrained_controls()


def report_outputs():
    """Executed notebooks (and their HTML pages), tables and figures of the report stage."""
    return [
        "results/notebooks/corpora.ipynb",
        *expand("results/tables/corpora.{ext}", ext=["csv", "md"]),
        *expand("results/figures/corpora_durations.{ext}", ext=["png", "pdf"]),
        "results/notebooks/alas.ipynb",
        *expand("results/tables/alas_{name}.{ext}", name=ALAS_TABLES, ext=["csv", "md"]),
        *alas_figures(),
        *alas_plot_files(),
        "results/notebooks/sift.ipynb",
        *expand("results/tables/sift_{name}.{ext}", name=SIFT_TABLES, ext=["csv", "md"]),
        *expand("results/figures/sift_training_curves.{ext}", ext=["png", "pdf"]),
        "results/notebooks/evaluate.ipynb",
        *evaluate_report_tables(),
        *expand("results/figures/{name}.{ext}", name=EVALUATE_FIGURES, ext=["png", "pdf"]),
        *expand("results/notebooks/{name}.html", name=["corpora", "alas", "sift", "evaluate"]),  # notebook_html
    ]


def evaluate_suite_folders(wildcards=None):
    """The folders of the benchmark suites of params evaluate.suites (data/corpora/<suite>/items.jsonl): the
    data stage builds bench (rule data_bench) and loads voicebench and airbench (rule data_real)."""
    suites = config["evaluate"]["suites"]
    unloaded = [s for s in suites if s in config["data"]["real"] and not config["data"]["real"][s]]
    if unloaded:
        raise ValueError(f"params evaluate.suites names {unloaded}, but data.real.<suite> is null for them: give"
                         " the folder of each benchmark in its published layout (README, Evaluate)")
    return expand("data/corpora/{suite}", suite=suites)


def evaluate_items_files(wildcards=None):
    """The items file of every suite, for `speechalign evaluate --items`."""
    return [f"{folder}/items.jsonl" for folder in evaluate_suite_folders()]


def evaluate_runs():
    """Every (system, seed) the evaluate stage answers with (speechalign.evaluate.systems.system_runs)."""
    from speechalign.evaluate.systems import system_runs

    return system_runs(config["train"]["run"], config["evaluate"]["baselines"], train_seeds())


def evaluate_answer_files():
    return [f"results/evaluate/answers/{run.system}/seed{run.seed}.jsonl" for run in evaluate_runs()]


def evaluate_checkpoint(wildcards):
    """The trained checkpoint a trained system answers with (baselines: none)."""
    if wildcards.system in config["train"]["run"]:
        return variant_checkpoint(wildcards.system, wildcards.seed)
    return []


def evaluate_checkpoint_option(wildcards):
    folder = evaluate_checkpoint(wildcards)
    return f"--checkpoint {folder}" if folder else ""


def evaluate_reference_answers(wildcards):
    """The text system's answers, whose NLL every other system records (the behaviour match); none for text
    itself (it scores its own) or when params evaluate.baselines leaves text out."""
    from speechalign.evaluate.systems import TEXT

    if wildcards.system == TEXT or TEXT not in config["evaluate"]["baselines"]:
        return []
    return [f"results/evaluate/answers/{TEXT}/seed{train_seeds()[0]}.jsonl"]


def evaluate_reference_option(wildcards):
    return " ".join(f"--references {path}" for path in evaluate_reference_answers(wildcards))


def evaluate_model_folders(wildcards):
    """The provisioned LLM and Whisper (encoder and cascade ASR) folders every system loads."""
    return provisioned(config["models"]["llm"], config["models"]["whisper"])


def evaluate_sbert_folder(wildcards):
    return provisioned(config["models"]["sbert"])


EVALUATE_SCORED = ["scores.parquet", "tables.csv", "systems.csv", "behaviour.parquet", "behaviour.csv",
                   "comparisons.csv", "metrics.json"]  # what rule evaluate_score writes


def evaluate_outputs():
    """Answers of every system x seed, the long-form scores, Tables 3-7 (long form), the behaviour metrics,
    the paired comparisons and their metrics."""
    return evaluate_answer_files() + [f"results/evaluate/{name}" for name in EVALUATE_SCORED]


EVALUATE_FIGURES = ["evaluate_scores", "alas_vs_benchmark"]


def evaluate_report_tables():
    """The evaluation notebook's tables: AZEROS Tables 3-7, parse counts, the cascade's WER, the behaviour
    metrics, the paired comparisons of the papers' claims and the findings table (every claim, its verdict)."""
    from speechalign.evaluate.tables import TABLES

    names = [f"azeros_table{spec.number}" for spec in TABLES] + ["evaluate_parsed", "evaluate_cascade_wer"]
    names += ["evaluate_behaviour", "evaluate_comparisons", "findings"]
    return expand("results/tables/{name}.{ext}", name=names, ext=["csv", "md"])


def paradigm_alas_summaries():
    """{variant: results/alas/<backend>/sqa.json} for the TSIT, SIT and SIFT variants whose checkpoint (first
    seed) a backend of params alas.models loads; variants without one are left out (the figure says so)."""
    from speechalign.evaluate.tables import PARADIGMS

    if "sqa" not in config["alas"]["corpora"]:
        return {}
    found = {}
    for variant in PARADIGMS:
        folder = variant_checkpoint(variant, train_seeds()[0])
        for model in config["alas"]["models"]:
            if config["backends"]["models"][model].get("projector") == folder:
                found.setdefault(variant, f"results/alas/{model}/sqa.json")
    return found


def paradigm_alas_files():
    return list(paradigm_alas_summaries().values())


def json_map(mapping):
    """Shell-quoted JSON object, for a notebook parameter."""
    return shlex.quote(json.dumps(dict(mapping), sort_keys=True))


def all_outputs():
    """Every final output of the active profile: what `rule all` builds."""
    return provisioned_models() + ["data/raw/corpora.json"] + alas_outputs() + validity_outputs() + reference_outputs() + sift_outputs() + train_outputs() + evaluate_outputs() + report_outputs()
