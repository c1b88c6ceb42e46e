"""The ``serving:`` section of `govflow.yaml`: how `govflow serve` treats a system's requests.

Part of the stored snapshot (it changes what a person is answered), re-exported by
`govflow.governance.config`; at its defaults it is left out of the dump, so configs written before a
key existed keep their config hash.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_serializer

from govflow.governance.config_operating import Strict as _Strict


class ServingSection(_Strict):
    out_of_domain: Literal["flag", "reject"] = Field(
        "flag", description="A value outside the training range or a category never seen: flag (score it and "
        "record the fields on the prediction; monitoring counts them) or reject (refuse it, 422 / exit 2).")
    explain: Literal["off", "inline"] = Field(
        "off", description="inline: govflow serve explains each decision with its answer (the response's "
        "'explanation') and records it as the decision's explanation; off: nothing is computed on the request "
        "path (govflow explain ID computes it later).")

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # At its default, explain is left out, so configs written before it keep their config hash.
        dumped: dict[str, Any] = handler(self)
        if dumped.get("explain") == "off":
            dumped.pop("explain")
        return dumped
