"""What a classifier's decision means, said in every served and logged output.

A decision of `govflow serve` and `govflow run score` reads on its own, whatever the config's
``data.positive_label`` is::

    {"decision": "good", "favourable": true, "score": 0.71, "score_of": "good"}

``decision`` is the class label as in the training data, ``favourable`` whether it is the config's
positive label, ``score`` the model's probability of ``score_of`` (the favourable label), and
``"randomised": true`` marks a model whose decision is drawn from that probability rather than read
off it at 0.5 (fairlearn's mitigations: a decision may then contradict ``score >= 0.5``).

Records logged before this shape hold ``{"decision": 0|1, "score": ...}``, where 1 meant the
favourable outcome. Every reader goes through `favourable_of` / `read_decision`, which read both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DECISION_KEYS = ("decision", "favourable", "score", "score_of", "randomised")


@dataclass(frozen=True)
class DecisionLabels:
    """The two labels a binary classifier decides between, and whether its decisions are drawn at random."""

    favourable: Any  #: the config's data.positive_label
    unfavourable: Any  #: the other class label of the target (or "not <favourable>" when unknown)
    randomised: bool = False  #: decisions drawn from the score (fairlearn mitigations), not thresholded

    def outputs(self, decisions: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        """One output per row from ``(decisions 0/1, scores)``: a tuple index and a dict per row."""
        labels, favourable = (self.unfavourable, self.favourable), self.favourable
        if self.randomised:
            return [{"decision": labels[d], "favourable": d == 1, "score": s, "score_of": favourable, "randomised": True}
                    for d, s in zip(decisions.tolist(), scores.tolist())]
        return [{"decision": labels[d], "favourable": d == 1, "score": s, "score_of": favourable}
                for d, s in zip(decisions.tolist(), scores.tolist())]


def labels_for(positive: Any, target_values: Sequence[Any] | None, *, randomised: bool = False) -> DecisionLabels:
    """The labels of a target whose favourable value is ``positive``; ``target_values`` are the
    target's values as the data contract records them (``allowed``), when it does.

    >>> labels_for("good", ["bad", "good"]).unfavourable
    'bad'
    >>> labels_for(0, None).unfavourable
    1
    """
    others = [v for v in (target_values or ()) if str(v) != str(positive)]
    if len(others) == 1:
        other: Any = others[0]
    elif isinstance(positive, bool):
        other = not positive
    elif isinstance(positive, int) and positive in (0, 1):
        other = 1 - positive
    else:
        other = f"not {positive}"
    return DecisionLabels(positive, other, randomised)


def favourable_of(output: Any) -> bool | None:
    """Whether a logged output is a favourable decision; None when it is no decision (a recommender's).

    Reads the current shape (``favourable``) and the earlier one (``decision`` 1 or 0, 1 favourable).
    """
    if not isinstance(output, Mapping):
        return None
    value = output.get("favourable")
    if isinstance(value, bool):
        return value
    if "score_of" in output:  # the current shape without a readable flag: say nothing rather than guess
        return None
    old = output.get("decision")
    if isinstance(old, bool) or (isinstance(old, int) and old in (0, 1)):
        return bool(old)
    return None


def read_decision(output: Any, positive_label: Any = None) -> dict[str, Any] | None:
    """A logged classifier output in the current shape, whichever shape it was logged in; None for
    anything else. An earlier record's 0/1 becomes its label when ``positive_label`` is known.

    >>> read_decision({"decision": 1, "score": 0.8}, positive_label="good")["decision"]
    'good'
    """
    favourable = favourable_of(output)
    if favourable is None:
        return None
    assert isinstance(output, Mapping)
    if "favourable" in output:
        return {k: output[k] for k in DECISION_KEYS if k in output}
    found: dict[str, Any] = {"decision": output.get("decision"), "favourable": favourable, "score": output.get("score")}
    if positive_label is not None:
        labels = labels_for(positive_label, None)
        found["decision"] = labels.favourable if favourable else labels.unfavourable
        found["score_of"] = positive_label
    return found
