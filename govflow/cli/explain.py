"""`govflow explain PREDICTION_ID`: the main elements of one decision, in plain words and numbers.

Thin: `govflow.flows.models.explaining` computes and records; this prints. `govflow.cli.main` adds it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from govflow.cli.context import ctx


def explain(
    typer_ctx: typer.Context,
    prediction_id: Annotated[str, typer.Argument(metavar="PREDICTION_ID", help="A prediction id, or a single-record request id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (every term, exact numbers).")] = False,
) -> None:
    """Explain one decision from its recorded input and the exact model version (recorded the first time)."""
    from govflow.flows.models.explaining import explain_prediction
    from govflow.governance.registry.versions import os_user

    answer = explain_prediction(ctx(typer_ctx).ledger(), prediction_id, by=os_user())
    typer.echo(json.dumps(answer, indent=1, ensure_ascii=False) if as_json else render(answer))


def _decision(output: dict[str, Any], favourable_label: Any) -> str:
    """The decision as logged: its label and whether it is favourable (an earlier record's 0/1 says 1 = the label)."""
    if isinstance(output.get("favourable"), bool):
        return f"{output.get('decision')} ({'favourable' if output['favourable'] else 'unfavourable'})"
    return f"{output.get('decision')} (1 = '{favourable_label}')"


def render(answer: dict[str, Any]) -> str:
    recorded = answer.get("recorded")
    where = (f"recorded in audit entry {recorded['audit_seq']} at {recorded['at']}" if recorded else "not recorded")
    if "items" in answer or (recorded and "items" in recorded["body"]):
        return _render_list(answer, where)
    if "erased" in answer:
        body = recorded["body"] if recorded else {}
        terms = sorted(body.get("contributions", {}).items(), key=lambda kv: -abs(kv[1]))[:5]
        lines = [f"prediction {answer['prediction_id']} by {answer['model_version']}: {answer['erased']}",
                 f"the explanation given before ({where}, method {body.get('method')}), without the erased values:"]
        return "\n".join(lines + [f"  {name}: {value:+.3f} log-odds" for name, value in terms])
    output = answer["output"]
    lines = [f"prediction {answer['prediction_id']} by {answer['model_version']} at {answer['served_at']}: "
             f"decision {_decision(output, answer['favourable'])}, score {answer['score']:.4f}",
             f"method: {answer['method']}; {where}", "what pushed it most:"]
    lines += [f"  {line}" for line in answer["text"]]
    lines.append(f"  starting point: {answer['base']['is']}: {answer['base']['value']:+.3f} log-odds; "
                 f"with every term ({len(answer['terms'])}) the log-odds are {answer['log_odds']:+.3f}")
    if "warning" in answer:
        lines.append(f"warning: {answer['warning']}")
    return "\n".join(lines)


def _render_list(answer: dict[str, Any], where: str) -> str:
    """A recommender's list: why each item was recommended (the text computed with it)."""
    if "erased" in answer:
        kept = answer["recorded"]["body"]["items"]
        return "\n".join([f"prediction {answer['prediction_id']} by {answer['model_version']}: {answer['erased']}",
                          f"the explanation given before ({where}, method {answer['method']}), without the user's "
                          "history:"] + [f"  {e['item']}: score {e['score']}" for e in kept])
    lines = [f"prediction {answer['prediction_id']} by {answer['model_version']} at {answer['served_at']}: "
             f"{len(answer['items'])} items recommended to user {answer['user']}",
             f"method: {answer['method']}; {where}"] + [f"  {line}" for line in answer["text"]]
    return "\n".join(lines + ([f"warning: {answer['warning']}"] if "warning" in answer else []))
