"""govflow.governance.access: who may do what.

API tokens for `govflow serve` (`tokens`), read-only database roles for auditors (`roles`),
separation of duties between approvers (`duties`) and signed approvals (`signatures`). Kept apart
from the registry so every entry point (CLI, HTTP, flows) checks the same rules.
"""
