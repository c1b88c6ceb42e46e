"""govflow.governance.lineage: how runs, data sets and model versions connect, read from the ledger.

`graph` builds the lineage graph; `trace` (`govflow trace`) and `diff` (`govflow diff`) read it;
`openlineage` and `prov` export it in the ecosystem's standards; `sinks` is where live OpenLineage
events go (a small interface chosen by configuration, no-op by default).
"""
