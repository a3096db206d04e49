"""retrieve/encoders.read_fusion_card: one reader for the fusion card, clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.retrieve.encoders import (
    load_fusion_weights,
    load_similarity_params,
    read_fusion_card,
)
from nmrpeak_cli.retrieve.search import FusionWeights
from nmrpeak_cli.similarity import DEFAULT_PARAMS


def test_no_card_means_defaults(tmp_path: Path) -> None:
    assert read_fusion_card(tmp_path) is None
    assert load_fusion_weights({"sme": object()}, tmp_path) == FusionWeights()
    assert load_similarity_params(tmp_path) == DEFAULT_PARAMS


def test_fitted_weights_are_restricted_to_the_encoders_present(tmp_path: Path) -> None:
    card = {"weights": {"ssr": 0.5, "sme": 0.3, "sse": 0.2}}
    (tmp_path / "retriever_fusion.json").write_text(json.dumps(card))
    assert load_fusion_weights({"sme": object()}, tmp_path) == FusionWeights(ssr=0.5, sme=0.3)
    assert load_fusion_weights({}, tmp_path) == FusionWeights()


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"similarity": {}}'])
def test_a_corrupt_card_is_a_clean_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "retriever_fusion.json").write_text(text)
    with pytest.raises(NotAvailableError, match="fusion card"):
        load_fusion_weights({"sme": object()}, tmp_path)
