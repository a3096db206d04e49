"""Elucidation: candidates of every source pooled per query, scored on one scale, ranked.

Each source hands over one candidate group per query (:class:`SourceResult`): the library
search (``library``: its top entries and their embedding scores), the generator
(``generated``: its beam and log-probabilities), and any further source (a structure
search, ``search``) through the same type. :func:`answer` pools the groups of one query by
InChIKey and scores every candidate with one function, whatever its source:

1. **Similarity**: the peak-aware similarity of its predicted spectrum (stored in the
   library, or predicted by the forward model) to the query, per nucleus and combined with
   the retrieval's nucleus weights (``similarity.c13_weight``), plus the number of query peaks
   it matches.
2. **Score**: a logistic fusion of that similarity with the source evidence (the embedding
   score of a library hit, the log-probability of a generated one, agreement of sources),
   fitted on validation queries (:class:`ElucidateModel`, ``models/elucidate.json``). The
   card pins the generator (sha256) and the search weights it was fitted with; they are
   what runs unless other generator weights are given (:func:`choose_generator`).
3. **Confidence**: the probability that the candidate is right, a logistic calibration of
   score, margin to the next candidate, agreement between sources and peak-count
   consistency, fitted on validation queries.

The formula is a constraint for every source: under the default policy ``reject`` no
candidate of another formula is ever returned; ``penalize`` keeps them with a fixed
penalty on the score and ``ignore`` ranks them as any other, and rows say which policy let
them through. A query with nothing left gets one row saying why.

The parts, in the order a query goes through them: :mod:`~nmrpeak_cli.elucidate.values`
(proposals, source groups, scored candidates), :mod:`~nmrpeak_cli.elucidate.sources` (the
library, the generator and the structure search as sources),
:mod:`~nmrpeak_cli.elucidate.scoring` (pooling, similarity, fusion, confidence, result rows),
:mod:`~nmrpeak_cli.elucidate.model` (the fitted fusion and calibration) and
:mod:`~nmrpeak_cli.elucidate.batch` (the batch body and the Python API). Everything public is
importable from ``nmrpeak_cli.elucidate``.
"""

from nmrpeak_cli.elucidate.batch import ElucidateBatch, elucidate, elucidate_batch, record_id
from nmrpeak_cli.elucidate.model import (
    DEFAULT_CALIBRATION,
    DEFAULT_FUSION,
    MODEL_FILE,
    ElucidateModel,
    GeneratorChoice,
    Logistic,
    choose_generator,
    interpolate,
    load_model,
    model_path,
    pinned_generator,
    search_weights_of,
    sigmoid,
)
from nmrpeak_cli.elucidate.scoring import (
    MISSING_LOGPROB,
    agreement,
    answer,
    calibration_features,
    empty_reason,
    formula_of,
    fusion_features,
    is_failure,
    measure_pool,
    pool,
    rank_measured,
    score_pool,
    similarity_of,
)
from nmrpeak_cli.elucidate.sources import (
    POOL_DEPTH,
    SEARCH_BUDGET,
    SEARCH_TIME_LIMIT,
    CandidateSource,
    GeneratorSource,
    LibrarySource,
    SearchSource,
    fill_logprobs,
    library_formulas,
    library_search,
    predict_missing,
    reseed_queries,
    search_config,
    search_group,
    search_seeds,
)
from nmrpeak_cli.elucidate.values import (
    FORMULA_POLICIES,
    LOW_CONFIDENCE,
    PENALTY_LOGIT,
    SOURCES,
    WARNING_PREFIX,
    Proposal,
    Scored,
    SourceResult,
    generated_result,
    library_result,
)

__all__ = [
    "DEFAULT_CALIBRATION",
    "DEFAULT_FUSION",
    "FORMULA_POLICIES",
    "LOW_CONFIDENCE",
    "MISSING_LOGPROB",
    "MODEL_FILE",
    "PENALTY_LOGIT",
    "POOL_DEPTH",
    "SEARCH_BUDGET",
    "SEARCH_TIME_LIMIT",
    "SOURCES",
    "WARNING_PREFIX",
    "CandidateSource",
    "ElucidateBatch",
    "ElucidateModel",
    "GeneratorChoice",
    "GeneratorSource",
    "LibrarySource",
    "Logistic",
    "Proposal",
    "Scored",
    "SearchSource",
    "SourceResult",
    "agreement",
    "answer",
    "calibration_features",
    "choose_generator",
    "elucidate",
    "elucidate_batch",
    "empty_reason",
    "fill_logprobs",
    "formula_of",
    "fusion_features",
    "generated_result",
    "interpolate",
    "is_failure",
    "library_formulas",
    "library_result",
    "library_search",
    "load_model",
    "measure_pool",
    "model_path",
    "pinned_generator",
    "pool",
    "predict_missing",
    "rank_measured",
    "record_id",
    "reseed_queries",
    "score_pool",
    "search_config",
    "search_group",
    "search_seeds",
    "search_weights_of",
    "sigmoid",
    "similarity_of",
]
