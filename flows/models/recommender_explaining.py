"""Explain one logged recommendation list with the exact recommender version that made it.

The implicit-SVD recommender (`govflow.flows.models.recommender`) scores item ``i`` for user ``u`` as
the dot product of their factors, ``p_u . q_i``. Its user factors are the projection of the user's
"rated it" row onto the item factors, ``p_u = sum over the items j the user rated of q_j`` (plus a
remainder of the order of 1e-7: the truncated SVD is computed approximately, and in float32). So each
recommended item's score splits exactly, with nothing estimated, into one term per rated item,
``q_j . q_i``: how much having rated ``j`` pushed ``i`` up (items rated by the same users have
aligned factors), plus that remainder. The explanation names, per recommended item, the rated items
that pushed it most, with their numbers; the terms and the remainder add up to the item's score. A
user unknown to the version (cold start) was given its most-rated items: the explanation says so, with
how many training users rated each.

What the ledger keeps of it (`govflow.governance.trail.explain.record_first`, the first time): per
recommended item its score, the sum of the rated items' terms, the remainder and the strongest terms'
sizes, with the SHA-256 of the text shown; not which items the user rated (their history: personal
data, which the record must not keep once the payload is erased).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from govflow.governance.trail import explain
from govflow.governance.trail.attribution import ITEM_FACTORS

TOP = 3  # rated items named per recommended item; the rest are summed
SUMS = ("per item: the named rated items' terms + the other rated items' terms + remainder = score "
        "(each term: the rated item's factors . the recommended item's factors)")
NOT_A_LIST = "prediction {pid} answered {shape}, not a recommendation list: nothing to explain"


def _titles(ledger: Ledger, version_id: str) -> dict[str, str]:
    data = registry.attachment(ledger, version_id, "item_catalog")
    items = json.loads(data).get("items", {}) if data else {}
    return {str(k): str(v.get("title", k)) for k, v in items.items()}


def _named(item: str, titles: Mapping[str, str]) -> str:
    return f"'{titles[item]}' (item {item})" if item in titles else f"item {item}"


def item_terms(model: Any, user: str, item: str) -> dict[str, Any]:
    """The exact split of one recommended item's score over the items ``user`` rated in training."""
    column = {str(v): j for j, v in enumerate(model.items)}
    q = np.asarray(model.item_factors, dtype=np.float64)
    target = column.get(item)
    if target is None:
        raise InputError(f"item {item} is not in the catalogue of this recommender version: the list cannot be explained")
    rated = np.asarray(model.seen[user], dtype=int)
    score = float(np.asarray(model.user_factors[model.users[user]], dtype=np.float64) @ q[:, target])
    terms = q[:, rated].T @ q[:, target]
    order = np.lexsort((rated, -terms))
    top = [{"item": str(model.items[rated[k]]), "contribution": float(terms[k])} for k in order[:TOP]]
    others = float(terms[order[TOP:]].sum())
    return {"item": item, "score": score, "because": top, "other_rated_items": others,
            "rated_items_total": float(terms.sum()), "remainder": score - float(terms.sum())}


def _cold_start(model: Any, user: str, listed: list[str], titles: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    raters = np.bincount(np.concatenate([np.asarray(s, dtype=int) for s in model.seen.values()] or [np.zeros(0, int)]),
                         minlength=len(model.items))
    column = {str(v): j for j, v in enumerate(model.items)}
    items: list[dict[str, Any]] = [{"item": i, "rated_by_training_users": int(raters[column[i]]) if i in column else 0}
                                   for i in listed]
    text = [f"user {user} was not among the {len(model.users)} users this version learned from (cold start): "
            "the list is its most-rated items, most-rated first, none chosen for this user"]
    text += [f"{_named(i['item'], titles)}: rated by {i['rated_by_training_users']} training users" for i in items]
    return items, text


def _text(user: str, items: list[dict[str, Any]], rated: int, titles: Mapping[str, str]) -> list[str]:
    lines = [f"user {user} rated {rated} items when this version was trained; items already rated are never "
             "recommended; each recommended item's score is the sum of one term per rated item"]
    for rank, entry in enumerate(items, start=1):
        named = ", ".join(f"{_named(t['item'], titles)} ({t['contribution']:+.3f})" for t in entry["because"])
        lines.append(f"{rank}. {_named(entry['item'], titles)}, score {entry['score']:.3f}: mostly because user {user} "
                     f"rated {named}; the other {max(0, rated - len(entry['because']))} rated items add "
                     f"{entry['other_rated_items']:+.3f}")
    return lines


def record_body(answer: Mapping[str, Any], payload_hash: str) -> dict[str, Any]:
    """What the ledger keeps: the numbers per recommended item, never which items the user rated."""
    kept = [{"item": e["item"], "score": e.get("score"), "rated_items_total": e.get("rated_items_total"),
             "remainder": e.get("remainder"), "strongest": [t["contribution"] for t in e.get("because", [])],
             "rated_by_training_users": e.get("rated_by_training_users")} for e in answer["items"]]
    return {"prediction_id": answer["prediction_id"], "model_version": answer["model_version"],
            "method": answer["method"], "cold_start": answer["cold_start"], "items": kept,
            "text_sha256": explain.text_hash(answer["text"]), "payload_hash": payload_hash}


def explain_list(ledger: Ledger, found: Mapping[str, Any], row: Mapping[str, Any], ref: registry.VersionRef, *,
                 recorded: dict[str, Any] | None, erased: str | None, by: str, record: bool) -> dict[str, Any]:
    """The explanation of one recommendation list (recorded the first time); see the module docstring."""
    from govflow.flows.recommender_flow import load_served

    output = json.loads(found["output_json"])
    if not (isinstance(output, dict) and isinstance(output.get("items"), list)):
        shape = ", ".join(sorted(output)) if isinstance(output, dict) else type(output).__name__
        raise InputError(NOT_A_LIST.format(pid=found["id"], shape=f"{{{shape}}}"))
    if erased is not None:
        if recorded is None:
            raise explain.PayloadErased(erased)
        return {"prediction_id": found["id"], "model_version": str(ref), "method": ITEM_FACTORS,
                "erased": erased.split(";")[0], "recorded": explain.recorded_summary(ledger, recorded)}
    user = json.loads(found["features_json"]).get("user_id")
    if isinstance(user, str) and user.startswith("hmac-sha256:"):
        raise InputError(explain.REDACTED.format(pid=found["id"], names="user_id"))
    user = str(user)
    model: Any = load_served(ledger, ref, dict(row)).model
    titles = _titles(ledger, ref.id)
    listed = [str(i) for i in output["items"]]
    cold = user not in model.users
    if cold:
        items, text = _cold_start(model, user, listed, titles)
    else:
        items = [item_terms(model, user, i) for i in listed]
        text = _text(user, items, len(model.seen[user]), titles)
    for entry, logged in zip(items if not cold else [], output.get("scores") or []):
        entry["recorded_score"] = logged
    answer: dict[str, Any] = {
        "prediction_id": found["id"], "system": found["system"], "model_version": str(ref),
        "model_version_id": found["model_version_id"], "served_at": canon.format_ts(found["served_at"]),
        "output": output, "method": ITEM_FACTORS, "user": user, "cold_start": cold, "items": items, "text": text,
        "sums": SUMS if not cold else "no scores: the most-rated items of training, in order"}
    off = [e["item"] for e in items if "recorded_score" in e and abs(e["score"] - float(e["recorded_score"])) > 1e-5]
    if off:
        answer["warning"] = (f"recomputed scores of item(s) {', '.join(off)} differ from the recorded ones: the "
                             "environment changed; the terms explain the recomputed scores")
    if record:
        answer["recorded"] = explain.record_first(ledger, answer, found["payload_hash"], by=by, body=record_body)
    elif recorded is not None:
        answer["recorded"] = explain.recorded_summary(ledger, recorded)
    return answer
