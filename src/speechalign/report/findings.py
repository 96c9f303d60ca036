"""The findings table: one block of rows per claim of the papers, with the paper's number, ours with its
interval and p-value, and the verdict (holds, does not hold, not resolved, not measurable at this scale, or
not run in this profile).

    table = findings_table(pd.read_csv("results/evaluate/comparisons.csv"),
                           pd.read_csv("results/tables/alas_layer_trend.csv"))

Every number comes from two tables the pipeline already writes: the evaluate stage's paired comparisons
(``speechalign.evaluate.behaviour.compare`` and ``speechalign.evaluate.findings.score_claims``) and the ALAS
report's layer trend (``speechalign.report.alas.layer_trend``). A claim whose systems the profile does not
train or evaluate keeps its row, marked "not run in this profile", so the table always lists every claim.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from speechalign.evaluate.behaviour import UNRESOLVED, interval_text
from speechalign.evaluate.findings import OVERALL, SCORE_CLAIMS
from speechalign.evaluate.systems import TEXT, UNTRAINED

__all__ = ["CLAIMS", "COLUMNS", "NO_PAIRS", "NOT_RUN", "PaperClaim", "findings_table"]

NOT_RUN = "not run in this profile"
NO_PAIRS = "no item both systems scored"  # "ours" of a comparison that ran but had nothing to pair
COLUMNS = ["claim", "paper", "evidence", "ours", "p", "seeds x items", "verdict"]
TWO_STAGE = "sift_s+sift_sp"
SEMANTIC_QA = "sqa"


@dataclass(frozen=True)
class PaperClaim:
    """One claim: the pairs (better, worse) of the comparisons that test it, the behaviour metrics and the
    score tasks it is read on, and ``alas``: whether the ALAS layer trend on semantic QA is its evidence
    instead."""

    claim: str
    paper: str
    pairs: tuple[tuple[str, str], ...] = ()
    metrics: tuple[str, ...] = ("nll", "agreement_gain")
    tasks: tuple[str, ...] = (OVERALL,)
    alas: bool = False


def _paper(better: str, worse: str) -> str:
    return next((c.paper for c in SCORE_CLAIMS if (c.better, c.worse) == (better, worse)), "")


_T3 = "(AZEROS Table 3)"
CLAIMS: tuple[PaperClaim, ...] = (
    PaperClaim(f"SIT beats TSIT on unseen tasks {_T3}", _paper("sit_s", "tsit_s"), (("sit_s", "tsit_s"),)),
    PaperClaim(f"SIFT beats SIT on unseen tasks {_T3}", _paper("sift_s", "sit_s"), (("sift_s", "sit_s"),)),
    PaperClaim(
        f"SIFT beats TSIT on unseen tasks {_T3}",
        "68.70 vs 22.26, VoiceBench overall",
        (("sift_s", "tsit_s"),),
    ),
    PaperClaim(
        "TSIT collapses into repeating the transcript (AZEROS)",
        "qualitative",
        (("sift_s", "tsit_s"),),
        metrics=("repeats",),
        tasks=(),
    ),
    PaperClaim("trained SIFT beats its untrained control", "implied", (("sift_s", UNTRAINED),)),
    PaperClaim(
        "text is the upper bound (AZEROS Table 5)",
        _paper(TEXT, TWO_STAGE),
        ((TEXT, "sift_s"), (TEXT, TWO_STAGE)),
    ),
    PaperClaim(
        "stage 2 lifts the paralinguistic tasks (AZEROS Table 4)",
        _paper(TWO_STAGE, "sift_s"),
        ((TWO_STAGE, "sift_s"),),
        tasks=("paralinguistic",),
    ),
    PaperClaim(
        "two stages beat one (AZEROS Table 6)", _paper(TWO_STAGE, "one-stage"), ((TWO_STAGE, "one-stage"),)
    ),
    PaperClaim(
        "later layers align better on semantic QA (ALAS Figure 3)", "ALAS falls with depth", alas=True
    ),
)


def _comparison_rows(comparisons: pd.DataFrame, claim: PaperClaim) -> list[dict]:
    """The comparisons of ``claim``'s pairs on its behaviour metrics and its score tasks."""
    rows = []
    for better, worse in claim.pairs:
        mine = comparisons[(comparisons["better"] == better) & (comparisons["worse"] == worse)]
        for r in mine.itertuples():
            task = getattr(r, "task", None)  # the behaviour comparisons alone have no task column
            task = task if isinstance(task, str) and task else None
            if (task not in claim.tasks) if r.metric == "score" else (r.metric not in claim.metrics):
                continue
            evidence = f"{r.metric}{f' ({task})' if task else ''}: {better} - {worse}"
            rows.append(_row(claim, evidence, r.difference, r.low, r.high, r.p_value, r.n_seeds, r.n_items,
                             r.verdict))  # fmt: skip
    return rows


def _alas_rows(trend: pd.DataFrame, claim: PaperClaim) -> list[dict]:
    """The layer trend (last quarter of the blocks minus the first; lower ALAS is better) per model and
    normalisation on semantic QA."""
    rows = []
    for r in trend[trend["corpus"] == SEMANTIC_QA].itertuples():
        evidence = f"ALAS layers {r.late_layers} - {r.early_layers}, {r.model}, {r.normalisation}"
        rows.append(_row(claim, evidence, r.late_minus_early, r.low, r.high, r.p_value, 1, r.utterances,
                         r.verdict))  # fmt: skip
    return rows


def _row(claim: PaperClaim, evidence: str, difference, low, high, p, seeds, items, verdict) -> dict:
    measured = pd.notna(difference)
    return {
        "claim": claim.claim,
        "paper": claim.paper,
        "evidence": evidence,
        "ours": interval_text(difference, low, high) if measured else _unmeasured(verdict),
        "p": float(p) if measured else float("nan"),
        "seeds x items": f"{int(seeds)} x {int(items)}" if measured else "",
        "verdict": verdict,
    }


def _unmeasured(verdict: str) -> str:
    """What "ours" says without numbers: nothing to pair in a comparison that ran; blank when the verdict
    (not run, not measurable) says why."""
    return NO_PAIRS if verdict == UNRESOLVED else ""


def findings_table(comparisons: pd.DataFrame, layer_trend: pd.DataFrame | None) -> pd.DataFrame:
    """Rows for every claim of ``CLAIMS`` in order (module docstring); ``layer_trend`` None: the ALAS claim
    reads "not run in this profile"."""
    rows: list[dict] = []
    for claim in CLAIMS:
        if claim.alas:
            found = [] if layer_trend is None else _alas_rows(layer_trend, claim)
        else:
            found = _comparison_rows(comparisons, claim)
        rows += found or [_row(claim, "", float("nan"), None, None, None, 0, 0, NOT_RUN)]
    return pd.DataFrame(rows, columns=COLUMNS)
