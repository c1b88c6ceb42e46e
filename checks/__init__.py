"""Pure compliance checks: frames and a policy in, typed results out.

Nothing in this package opens a database, a file or a socket, and nothing here imports the rest of
govflow: `governance/` and `flows/` build on it, never the other way round.
"""
