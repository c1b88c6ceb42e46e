"""``NAME:VERSION``, parsed: light on purpose (no SQLAlchemy), so a command refuses a bad argument before
it loads the ledger. Resolving a reference to a recorded version is `govflow.governance.registry.versions.resolve`."""

from __future__ import annotations

from govflow.errors import InputError

BARE_NAME = "'{ref}' names no version: write NAME:VERSION, e.g. {ref}:latest, {ref}:production or {ref}:1"
BAD_VERSION = ("'{ref}': version '{version}' is not a version: write a number in the digits 0-9 (e.g. {system}:1), "
               "{system}:latest or {system}:production")
ALIASES = ("latest", "production")


def parse_ref(ref: str) -> tuple[str, int | str]:
    """``NAME:VERSION`` as ``(NAME, number)`` or ``(NAME, "latest" | "production")``: the one parser.

    A number is ASCII digits only: `str.isdigit` also accepts '²' (which `int` then refuses) and
    '١' (which `int` reads as 1), so a version could be named by text no one would read as it.
    """
    if ":" not in ref:
        raise InputError(BARE_NAME.format(ref=ref))
    system, _, version = ref.rpartition(":")
    if version in ALIASES:
        return system, version
    if not (version.isascii() and version.isdigit()):
        raise InputError(BAD_VERSION.format(ref=ref, version=version, system=system))
    return system, int(version)
