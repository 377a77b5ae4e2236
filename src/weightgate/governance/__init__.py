"""Governance evidence: what binds approvals, licenses, lineage, eval evidence and registry entries to the
artifact digest. Pure models and functions here; the checks in `weightgate.checks` turn them into findings."""
