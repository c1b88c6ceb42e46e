"""govflow.demo: the stories `govflow demo` tells, on real data, with nothing tuned for them.

`credit` (the default: German credit, through the gate to production), `employment` and
`employment_production` (ACS employment: post-deployment monitoring and an incident), `story` and
`report_text` for how they print. Above the flows and the web layer; only the CLI imports it.
"""
