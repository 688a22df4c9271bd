"""Reuse candidates for procurement: which accelerators we own can serve an LLM.

A selector, split by question: `query` (the question and its ranked answer), `evaluation` (the
estimate over the catalogue), `measured` (runs recorded at a site replace the estimate),
`context` (each site's PUE and grid intensity), `cache` (reads kept while the registry is
unchanged), `tags` (the asset tags of one page) and `presentation` (rows and words). Reserving
candidates is a write: `registry.reservations`.

Method: docs/reuse.md (memory fit, the decode model fitted to published measurements, bands,
avoided embodied carbon, payback).
"""

from registry.reuse.context import (
    DEFAULT_PUE,
    PUE_PROVIDERS,
    grid_for,
    grid_table,
    register_pue_provider,
    site_pue,
)
from registry.reuse.presentation import ESTIMATE_LABEL, page
from registry.reuse.query import (
    RANK_KEYS,
    CandidateResult,
    ReuseQuery,
    custom_model,
    find_candidates,
    llm_models,
)

__all__ = [
    "DEFAULT_PUE",
    "ESTIMATE_LABEL",
    "PUE_PROVIDERS",
    "RANK_KEYS",
    "CandidateResult",
    "ReuseQuery",
    "custom_model",
    "find_candidates",
    "grid_for",
    "grid_table",
    "llm_models",
    "page",
    "register_pue_provider",
    "site_pue",
]
