"""Evaluate systems: which runs exist, how each system answers (speech, transcript, ASR), rejections recorded,
and the resumable answer cache. A fake backend checks the bookkeeping exactly; the tiny random composed model
checks the real backend path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from speechalign.backends import BackendInputError, Run
from speechalign.errors import UserFacingError
from speechalign.evaluate import systems as S
from speechalign.metrics.bench.items import BenchItem
from speechalign.sift.targets import TargetCache


class FakeBackend:
    """Answers say what the model was given; audio shorter than 0.1 s is refused like a real backend."""

    sample_rate = 16000

    def __init__(self, fail_after: int | None = None):
        self.calls: list[int] = []
        self.fail_after = fail_after

    def audio_run(self, wave, task):
        if len(wave) < 1600:
            raise BackendInputError("audio is shorter than one audio position")
        return Run("audio", (0, 1), 1, payload={"say": f"heard {len(wave)} samples; {task}"})

    def text_run(self, transcript, task):
        return Run("text", (0, 1), 1, payload={"say": f"read {transcript}; {task}"})

    def generate(self, runs, max_new_tokens, batch_size=8):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("interrupted")
        self.calls.append(len(runs))
        return [r.payload["say"] for r in runs]


@pytest.fixture
def items(tmp_path):
    def wav(name, seconds):
        path = tmp_path / f"{name}.flac"
        sf.write(path, np.zeros(int(16000 * seconds), dtype=np.float32), 16000)
        return str(path)

    question = "What is two plus two? A four B five"
    return [
        BenchItem(
            "m1", "mcq", "arithmetic", wav("m1", 1.0), question, "Answer A or B.", ("A",), ("four", "five")
        ),
        BenchItem("a1", "agreement", "open", wav("a1", 0.5), "Tell me about cats.", ""),
        BenchItem(
            "s1", "sqa", "passages", wav("s1", 0.05), "Mary is forty-two.", "How old is Mary?", ("42",)
        ),
    ]


def test_system_runs_trained_and_untrained_per_seed_seed_free_baselines_once():
    runs = S.system_runs(["sift_s", "tsit_s"], ["text", "cascade", "untrained"], seeds=[0, 1])
    assert [(r.system, r.seed) for r in runs] == [
        ("sift_s", 0), ("sift_s", 1), ("tsit_s", 0), ("tsit_s", 1),
        ("text", 0), ("cascade", 0), ("untrained", 0), ("untrained", 1),
    ]  # fmt: skip
    assert {r.kind for r in runs} == {"trained", "text", "cascade", "untrained"}


@pytest.mark.parametrize(
    ("trained", "baselines", "seeds", "message"),
    [
        (["text"], [], [0], "named like a baseline"),
        (["sift_s"], ["oracle"], [0], "unknown baseline"),
        (["sift_s"], [], [], "train.seeds is empty"),
    ],
)
def test_system_runs_refuse_bad_configurations(trained, baselines, seeds, message):
    with pytest.raises(UserFacingError, match=message):
        S.system_runs(trained, baselines, seeds)


@pytest.mark.parametrize(
    ("spoken", "recognised", "expected"),
    [
        ("Mary is forty-two.", "Mary is 42", (0, 4)),  # numbers normalised: no error
        ("Mary is forty-two.", "Mary 42", (1, 4)),  # one deletion
        ("the cat sat", "a cat sat down", (2, 3)),  # one substitution, one insertion
        ("the cat", "", (2, 2)),
    ],
)
def test_asr_word_errors_by_hand(spoken, recognised, expected):
    assert S.asr_word_errors(spoken, recognised) == expected


def test_speech_systems_hear_the_audio_and_agreement_also_reads_the_transcript(items):
    backend = FakeBackend()
    answers = S.answer_items(S.SystemRun("sift_s", 0), items, backend, batch_size=2)
    m1, a1, s1 = answers
    assert m1.answer == "heard 16000 samples; Answer A or B." and m1.text_answer is None
    assert a1.answer == "heard 8000 samples; " and a1.text_answer == "read Tell me about cats.; "
    assert (s1.answer, s1.reason) == ("", "audio is shorter than one audio position")  # recorded, not dropped
    assert (m1.system, m1.seed, m1.task, m1.subset) == ("sift_s", 0, "mcq", "arithmetic")
    assert backend.calls == [3]  # one chunk, the rejected item generates nothing


def test_text_system_reads_the_spoken_text_and_agrees_with_itself(items):
    answers = S.answer_items(S.SystemRun("text", 0), items, FakeBackend())
    assert answers[0].answer == "read What is two plus two? A four B five; Answer A or B."
    assert answers[1].answer == answers[1].text_answer == "read Tell me about cats.; "
    assert answers[2].reason == ""  # the text run needs no audio


def test_cascade_answers_the_recognised_text_and_records_its_word_errors(items):
    heard = {16000: "what is two plus 2 a four b five", 8000: "tell me about hats", 800: ""}
    answers = S.answer_items(S.SystemRun("cascade", 0), items, FakeBackend(), asr=lambda w: heard[len(w)])
    m1, a1, s1 = answers
    assert m1.answer == "read what is two plus 2 a four b five; Answer A or B."
    assert (m1.asr_errors, m1.asr_words) == (0, 9)
    assert a1.answer == "read tell me about hats; " and a1.text_answer == "read Tell me about cats.; "
    assert (a1.asr_text, a1.asr_errors, a1.asr_words) == ("tell me about hats", 1, 4)
    assert (s1.answer, s1.reason, s1.asr_text) == ("", "the ASR recognised no words", "")


def test_audio_systems_answer_a_mismatched_control_and_every_system_scores_text_answers(items):
    """The control hears the next item of the same task (its instruction kept); given text's answers, each
    system records their NLL under its own run and under the control's; text scores its own answers."""
    more = items + [
        BenchItem("m2", "mcq", "arithmetic", items[1].audio, "q2", "Pick one.", ("A",), ("a", "b"))
    ]
    nll = lambda pairs: [(float(len(run.payload["say"])), len(text)) for run, text in pairs]  # noqa: E731
    references = {"m1": "A", "m2": "B.", "a1": "Cats purr."}
    answers = S.answer_items(S.SystemRun("untrained", 1), more, FakeBackend(), references=references, nll=nll)
    m1, a1, s1, m2 = answers
    assert (m1.mismatched_item, m1.mismatched_answer) == ("m2", "heard 8000 samples; Answer A or B.")
    assert (m2.mismatched_item, m2.mismatched_answer) == ("m1", "heard 16000 samples; Pick one.")
    assert a1.mismatched_item is None and s1.mismatched_item is None  # alone in its task; refused audio
    assert (m1.reference_nll, m1.reference_tokens) == (len(m1.answer), 1)
    assert m1.mismatched_nll == len(m1.mismatched_answer)
    assert (a1.reference_nll, a1.mismatched_nll) == (len(a1.answer), None)
    assert s1.reference_nll is None  # no answer, no run to score under
    text = S.answer_items(S.SystemRun("text", 0), more, FakeBackend(), references=references, nll=nll)
    assert text[0].mismatched_item is None and text[0].reference_tokens == len(text[0].answer)  # its own
    cascade = S.answer_items(S.SystemRun("cascade", 0), more, FakeBackend(), asr=lambda w: "words")
    assert all(a.mismatched_item is None and a.reference_nll is None for a in cascade)  # no references given


def test_answers_resume_from_the_cache_after_an_interruption(items, tmp_path):
    more = items + [BenchItem(f"x{k}", "mcq", "arithmetic", items[0].audio, f"q{k}", "", ("A",), ("a", "b"))
                    for k in range(4)]  # fmt: skip
    run, cache_path = S.SystemRun("sift_s", 0), tmp_path / "cache.jsonl"
    with pytest.raises(RuntimeError, match="interrupted"):
        S.answer_items(run, more, FakeBackend(fail_after=1), cache=TargetCache(cache_path), chunk_items=3)
    assert len(cache_path.read_text().splitlines()) == 3  # the first chunk was kept
    again = FakeBackend()
    answers = S.answer_items(run, more, again, cache=TargetCache(cache_path), chunk_items=3)
    assert again.calls == [6, 2]  # the four items left: three, then one, each with its mismatched control
    assert answers == S.answer_items(run, more, FakeBackend(), chunk_items=3)  # as if never interrupted
    done = FakeBackend()
    S.answer_items(run, more, done, cache=TargetCache(cache_path))
    assert done.calls == []  # everything cached
    other = FakeBackend()
    S.answer_items(run, more, other, cache=TargetCache(cache_path), configuration="retrained")
    assert sum(other.calls) > 0  # another configuration (weights, token budget) misses the cache


def test_answers_file_round_trip(items, tmp_path):
    answers = S.answer_items(S.SystemRun("cascade", 0), items, FakeBackend(), asr=lambda w: "hello")
    S.write_answers(tmp_path / "a.jsonl", answers)
    assert S.read_answers(tmp_path / "a.jsonl") == answers
    assert json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])["asr_text"] == "hello"
    with pytest.raises(UserFacingError, match="snakemake --cores 1 evaluate"):
        S.read_answers(tmp_path / "missing.jsonl")


MODELS = {"llm": "smollm2-135m-instruct", "whisper": "whisper-base"}
BACKENDS = {"system_prompt": "You are a helpful assistant.", "layout": "{speech}\n{task}"}
TRAIN = {"projector_hidden": 256, "stack": 4}


def test_backend_specs_follow_training_settings(tmp_path):
    untrained = S.backend_spec(S.SystemRun("untrained", 3), None, MODELS, BACKENDS, TRAIN)
    assert untrained["projector"] is None and untrained["projector_hidden"] == 256
    assert (
        untrained["system_prompt"] == BACKENDS["system_prompt"] and untrained["layout"] == BACKENDS["layout"]
    )
    with pytest.raises(UserFacingError, match="--checkpoint"):
        S.backend_spec(S.SystemRun("sift_s", 0), None, MODELS, BACKENDS, TRAIN)
    spec = S.backend_spec(S.SystemRun("sift_s", 0), "data/sift/models/sift_s/seed0", MODELS, BACKENDS, TRAIN)
    assert spec["projector"] == "data/sift/models/sift_s/seed0"  # the composed backend reads the checkpoint


def test_configuration_key_changes_with_the_checkpoint_weights(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"one")
    spec = {"kind": "composed"}
    first = S.configuration_key(spec, str(folder), 64, "faster-whisper")
    assert first == S.configuration_key(spec, str(folder), 64, "faster-whisper")
    assert first != S.configuration_key(spec, str(folder), 32, "faster-whisper")
    (folder / "w.bin").write_bytes(b"two")
    assert first != S.configuration_key(spec, str(folder), 64, "faster-whisper")


def test_the_composed_backend_answers_through_its_own_runs_deterministically(items, tmp_path):
    import tiny_models as tiny  # tests/support

    backend = tiny.tiny_composed()
    tone = tmp_path / "tone.flac"
    sf.write(tone, tiny.tone(1.2), 16000)
    real = [
        BenchItem(
            "t1", "mcq", "arithmetic", str(tone), "Two plus two?", "Answer A or B.", ("A",), ("4", "5")
        ),
        BenchItem("t2", "agreement", "open", str(tone), "Tell me about cats.", ""),
    ]
    run = S.SystemRun("untrained", 0)
    first = S.answer_items(run, real, backend, max_new_tokens=5, batch_size=2)
    assert all(isinstance(a.answer, str) and not a.reason for a in first)
    assert first[1].text_answer is not None
    assert (
        S.answer_items(run, real, backend, max_new_tokens=5, batch_size=1) == first
    )  # batching changes nothing


def test_scores_count_unanswered_items_as_wrong_and_agreement_without_a_text_answer_as_missing(items):
    from speechalign.evaluate.answer_scores import SCORE_COLUMNS, asr_summary, score_answers

    answers = [
        S.Answer("cascade", 0, "m1", "mcq", "arithmetic", "The answer is A.", asr_errors=1, asr_words=9),
        S.Answer(
            "cascade", 0, "a1", "agreement", "open", "cats purr", text_answer="", asr_errors=3, asr_words=4
        ),
        S.Answer(
            "cascade", 0, "s1", "sqa", "passages", "", reason="the ASR recognised no words", asr_words=4
        ),
        S.Answer("sift_s", 0, "a1", "agreement", "open", "cats purr", text_answer="cats purr"),
    ]
    embed = lambda texts: np.array([[1.0, 0.0] if t == "cats purr" else [0.0, 1.0] for t in texts])  # noqa: E731
    scores = score_answers(items, answers, embed)
    assert list(scores.columns) == SCORE_COLUMNS
    assert scores["score"].tolist()[0] == 1.0 and scores["parsed"].tolist()[0]
    assert np.isnan(scores["score"][1]) and "no answer to compare" in scores["reason"][1]
    assert (scores["score"][2], scores["parsed"][2]) == (0.0, False)
    assert scores["reason"][2] == "not answered: the ASR recognised no words"
    assert scores["score"][3] == pytest.approx(1.0)
    summary = asr_summary(answers)["cascade/seed0"]  # summed counts
    assert {k: summary[k] for k in ("errors", "words", "wer")} == {"errors": 4, "words": 17, "wer": 4 / 17}
    with pytest.raises(UserFacingError, match="do not hold"):
        score_answers(items[:1], answers, embed)


def test_score_cli_writes_scores_tables_and_metrics(tmp_path):
    import pandas as pd

    from speechalign.cli import main
    from speechalign.metrics.bench.items import write_items

    gender = "Male or female? A male B female"
    bench = [
        BenchItem(
            "m1", "mcq", "arithmetic", None, "Two plus two? A four B five", "", ("A",), ("four", "five")
        ),
        BenchItem("p1", "paralinguistic", "gender", None, "Hello there.", gender, ("B",), ("male", "female")),
    ]
    write_items(tmp_path / "items.jsonl", bench)
    said = {"sift_s": ("A", "maybe"), "text": ("B", "(B)")}
    answers = {
        system: [
            S.Answer(system, 0, "m1", "mcq", "arithmetic", mcq),
            S.Answer(system, 0, "p1", "paralinguistic", "gender", gender),
        ]
        for system, (mcq, gender) in said.items()
    }
    for system, rows in answers.items():
        S.write_answers(tmp_path / f"{system}.jsonl", rows)
    params = {
        "baselines": ["text"],
        "asr": "faster-whisper",
        "max_new_tokens": 8,
        "confidence": 0.95,
        "bootstrap": 200,
        "repeat_threshold": 0.8,
    }
    code = main([
        "evaluate", "score", "--items", str(tmp_path / "items.jsonl"),
        "--answers", str(tmp_path / "sift_s.jsonl"), str(tmp_path / "text.jsonl"),
        "--scores", str(tmp_path / "scores.parquet"), "--tables", str(tmp_path / "tables.csv"),
        "--systems", str(tmp_path / "systems.csv"), "--behaviour", str(tmp_path / "behaviour.parquet"),
        "--behaviour-summary", str(tmp_path / "behaviour.csv"),
        "--comparisons", str(tmp_path / "comparisons.csv"),
        "--metrics", str(tmp_path / "metrics.json"), "--seed", "0",
        "--evaluate-params", json.dumps(params), "--models-params", json.dumps({"sbert": "all-minilm-l6-v2"}),
    ])  # fmt: skip
    assert code == 0
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert scores.set_index(["system", "item"])["score"].to_dict() == {
        ("sift_s", "m1"): 1.0, ("sift_s", "p1"): 0.0, ("text", "m1"): 0.0, ("text", "p1"): 1.0,
    }  # fmt: skip
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["table3"]["sift_s"]["semantic/mcq"] == 100.0
    assert metrics["table5"]["text"]["paralinguistic/gender"] == 100.0
    tables = pd.read_csv(tmp_path / "tables.csv")
    assert (tables.loc[tables["system"] == "cascade", "note"] == "not run").all()
    systems = pd.read_csv(tmp_path / "systems.csv")
    assert set(systems["system"]) == {"sift_s", "text"} and (systems["table"] == 0).all()
    assert pd.read_parquet(tmp_path / "behaviour.parquet").empty  # no audio: no speech run to match
    assert metrics["behaviour"] == {"systems": {}, "comparisons": {}}


def test_wer_under_whispers_normaliser_reads_numbers_as_published_wers_do():
    # ours spells "42" out (forty two: 1 deletion of 4 words); Whisper's writes "forty-two" as 42 (1 of 3)
    assert S.asr_word_errors("Mary is forty-two.", "Mary 42") == (1, 4)
    assert S.asr_word_errors("Mary is forty-two.", "Mary 42", "whisper") == (1, 3)
