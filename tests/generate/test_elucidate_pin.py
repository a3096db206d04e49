"""An elucidate model card pins the generator (by sha256) and the search weights it was
fitted with: ``elucidate`` runs them by default, explicit ``--weights`` win with a warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.elucidate import (
    SearchSource,
    choose_generator,
    elucidate_batch,
    pinned_generator,
    search_config,
    search_weights_of,
)
from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.paths import REPO_ROOT

SHIPPED = REPO_ROOT / "models"
PINNED = {"w_similarity": 7.5, "w_logprob": 2.25, "bias": -5.0}


def _card(folder: Path, sha: str, name: str | None, **extra) -> Path:
    """An elucidate card (the shipped fusion) fitted with generator ``sha`` (file ``name``)."""
    card = json.loads((SHIPPED / "elucidate.json").read_text())
    card.update(generator=sha, search_weights=PINNED, **extra)
    if name is None:
        card.pop("generator_weights", None)
    else:
        card["generator_weights"] = name
    path = folder / "elucidate_test.json"
    path.write_text(json.dumps(card))
    return path


def _generator_card(folder: Path, name: str, sha: str) -> Path:
    weights = folder / name
    weights.write_bytes(b"")
    weights.with_suffix(".json").write_text(json.dumps({"sha256": sha}))
    return weights


@pytest.mark.parametrize("card", ["elucidate.json", "elucidate_random.json"])
def test_each_shipped_card_resolves_to_the_generator_it_was_fitted_with(card) -> None:
    fitted = json.loads((SHIPPED / card).read_text())
    chosen = choose_generator(SHIPPED / card)
    assert chosen.weights is not None, f"{card} pins no generator"
    recorded = json.loads(chosen.weights.with_suffix(".json").read_text())["sha256"]
    assert recorded == fitted["generator"], f"{card} resolved to {chosen.weights} ({recorded})"
    assert chosen.search_weights == fitted["search_weights"], "search weights not pinned"
    assert chosen.warning is None


def test_a_renamed_generator_is_found_by_its_sha(tmp_path) -> None:
    _generator_card(tmp_path, "generator.safetensors", "b" * 64)
    kept = _generator_card(tmp_path, "generator_v1.safetensors", "a" * 64)
    card = {"generator": "a" * 64, "generator_weights": "generator.safetensors"}
    assert pinned_generator(card, [tmp_path]) == kept, "the sha256 decides, not the name"
    assert pinned_generator({}, [tmp_path]) is None, "a card without a generator pins none"


def test_an_absent_generator_gives_an_error_naming_it(tmp_path) -> None:
    _generator_card(tmp_path, "generator.safetensors", "b" * 64)
    card = _card(tmp_path, "c" * 64, "generator_v0.safetensors")
    with pytest.raises(NotAvailableError, match=r"cccccccccccc.*generator_v0\.safetensors"):
        choose_generator(card)


def test_explicit_weights_win_with_a_warning(tmp_path) -> None:
    pinned = _generator_card(tmp_path, "generator_v1.safetensors", "a" * 64)
    other = _generator_card(tmp_path, "generator.safetensors", "b" * 64)
    card = _card(tmp_path, "a" * 64, "generator_v1.safetensors")
    same = choose_generator(card, pinned)
    assert (same.weights, same.search_weights, same.warning) == (pinned, PINNED, None)
    chosen = choose_generator(card, other)
    assert chosen.weights == other and chosen.search_weights is None
    assert "aaaaaaaaaaaa" in chosen.warning and "generator.safetensors" in chosen.warning


def test_search_weights_fall_back_to_the_search_settings_of_older_cards() -> None:
    old = {"search": "SearchConfig(budget=100, w_similarity=12.68, w_logprob=4.09, bias=-10.43)"}
    assert search_weights_of(old) == {"w_similarity": 12.68, "w_logprob": 4.09, "bias": -10.43}
    assert search_weights_of({"search": "SearchConfig(w_similarity=None)"}) is None
    with pytest.raises(NotAvailableError, match="search_weights"):
        search_weights_of({"search_weights": {"w_similarity": 1.0}})


def test_the_batch_body_runs_the_pinned_generator_and_search_weights(
    tiny_models_dir, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("NMRPEAK_MODELS", str(tiny_models_dir))
    sha = json.loads((tiny_models_dir / "generator.json").read_text())["sha256"]
    card = _card(tmp_path, sha, "generator_v1.safetensors")  # renamed since: found by sha
    body = elucidate_batch(library=None, model=card, search=search_config(5, None))
    generated = [s for s in body.sources if isinstance(s, SearchSource)]
    assert body.generation.weights == (tiny_models_dir / "generator.safetensors").absolute()
    assert {k: getattr(generated[0].config, k) for k in PINNED} == PINNED
    with pytest.warns(UserWarning, match="not calibrated"):
        other = _generator_card(tmp_path, "other.safetensors", "d" * 64)
        elucidate_batch(library=None, model=card, generator_weights=other)


def test_the_cli_exits_2_naming_an_absent_generator(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NMRPEAK_MODELS", str(tmp_path))
    card = _card(tmp_path, "e" * 64, "generator_v0.safetensors")
    result = CliRunner().invoke(
        app, ["elucidate", "--c13", "20.0, 170.0", "--formula", "C2H4O2", "--model", str(card)]
    )
    assert result.exit_code == 2, result.output
    assert "eeeeeeeeeeee" in result.output and "generator_v0.safetensors" in result.output
