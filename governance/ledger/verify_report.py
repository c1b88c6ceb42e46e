"""What `govflow verify` found: a `Report` of counts and `Finding` s, each naming the entry concerned."""

from __future__ import annotations

from dataclasses import dataclass, field

from govflow import canonical as canon


@dataclass(frozen=True)
class Finding:
    seq: int | None  # the first audit entry concerned, when there is one
    record: str
    problem: str

    def __str__(self) -> str:
        where = f"entry {self.seq}" if self.seq is not None else "outside the chain"
        return f"{where}: {self.record}: {self.problem}"


@dataclass
class Report:
    entries: int = 0
    rows: int = 0
    artifacts: int = 0
    head_seq: int = 0
    head_hash: str = canon.GENESIS
    purged_payloads: int = 0
    since_seq: int = 0  # entries up to this one were not re-read (``--since``); 0 for a full verify
    rollup_cells: int = 0  # cells of the dashboard's hourly sums recounted from the predictions
    signatures: int = 0  # signed approvals checked against their recorded keys (always all of them)
    bad_signatures: list[str] = field(default_factory=list)  # the record of each signed approval that does not hold
    findings: list[Finding] = field(default_factory=list)
    gaps: list[range] = field(default_factory=list)  # sequence numbers missing from the chain

    def has_entry(self, seq: int) -> bool:
        return 1 <= seq <= self.head_seq and not any(seq in gap for gap in self.gaps)

    @property
    def intact(self) -> bool:
        return not self.findings

    def ordered(self) -> list[Finding]:
        """The findings by entry (stable within one entry), those outside the chain last."""
        return sorted(self.findings, key=lambda f: (f.seq is None, f.seq or 0))

    def first(self) -> Finding | None:
        ordered = self.ordered()
        return ordered[0] if ordered else None
