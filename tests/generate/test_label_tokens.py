"""Attached-H (DEPT) labels in the generator: label tokens, growing a model for them, label
dropout, and the beam's label policy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from nmrpeak_cli import chem
from nmrpeak_cli.generate.api import LABEL_PENALTY, propose
from nmrpeak_cli.generate.inputs import Augmentation, augment, pad_batch
from nmrpeak_cli.generate.labels import labels_fit, query_label_counts
from nmrpeak_cli.generate.train import with_label_tokens
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum
from nmrpeak_cli.tokenizer import LABEL_TOKENS, SpectrumTokenizer


def _labelled(spectrum: Spectrum, labels: list[int | None]) -> Spectrum:
    peaks = tuple(replace(p, n_h=h) for p, h in zip(spectrum.c13, labels, strict=True))
    return replace(spectrum, c13=PeakList(Nucleus.C13, peaks))


def _toluene(tiny_pairs) -> Spectrum:
    return next(p.spectrum for p in tiny_pairs if p.spectrum.id == "toluene")


def test_old_tokenizer_ignores_labels_and_the_grown_one_keeps_every_id(tiny_pairs) -> None:
    old = SpectrumTokenizer.fit([p.spectrum for p in tiny_pairs], c13_bins=50, h1_bins=30)
    toluene = _toluene(tiny_pairs)  # 137.9 C, 129.1 CH, 128.3 CH, 125.4 CH, 21.5 CH3
    labelled = _labelled(toluene, [0, 1, 1, None, 3])
    assert not old.labels
    assert old.encode(labelled) == old.encode(toluene), "a card without labels must ignore them"

    grown = old.with_labels()
    assert grown.labels and grown.with_labels() is grown
    assert grown.vocab[: len(old)] == old.vocab and grown.vocab[len(old) :] == LABEL_TOKENS
    assert grown.encode(toluene) == old.encode(toluene), "unlabelled input encodes as before"
    tokens = grown.tokens(labelled)
    assert [t for t in tokens if t.startswith("L:")] == ["L:C", "L:CH", "L:CH", "L:CH3"]
    assert tokens[tokens.index("L:C") - 1].startswith("C:"), "a label follows its peak"
    decoded = grown.decode(grown.encode(labelled))
    assert [p.n_h for p in decoded.c13] == [0, 1, 1, None, 3]
    again = SpectrumTokenizer.from_dict(grown.to_dict())
    assert again.labels and again.encode(labelled) == grown.encode(labelled)


def test_grown_generator_computes_the_same_without_labels(tiny_generator, tiny_pairs) -> None:
    grown = with_label_tokens(tiny_generator)
    assert grown.model.config.src_vocab == tiny_generator.model.config.src_vocab + 4
    assert with_label_tokens(grown) is grown
    spectra = [p.spectrum for p in tiny_pairs]
    src_old = torch.as_tensor(
        pad_batch([tiny_generator.spectrum_tokenizer.encode(s) for s in spectra])
    )
    src_new = torch.as_tensor(pad_batch([grown.spectrum_tokenizer.encode(s) for s in spectra]))
    assert torch.equal(src_old, src_new)
    tgt = torch.as_tensor(
        pad_batch([tiny_generator.smiles_tokenizer.encode(p.smiles) for p in tiny_pairs])
    )
    with torch.inference_mode():
        before = tiny_generator.model(src_old, tgt[:, :-1])
        after = grown.model(src_new, tgt[:, :-1])
    assert torch.allclose(before, after, atol=1e-6), "new rows must not change unlabelled output"
    labelled = _labelled(_toluene(tiny_pairs), [0, 1, 1, 1, 3])
    assert (
        len(grown.spectrum_tokenizer.encode(labelled))
        == len(tiny_generator.spectrum_tokenizer.encode(labelled)) + 5
    )


def test_label_dropout_keeps_drops_and_leaves_unlabelled_spectra_alone(tiny_pairs) -> None:
    toluene = _toluene(tiny_pairs)
    labelled = _labelled(toluene, [0, 1, 1, 1, 3])
    quiet = Augmentation(drop_peak=0.0, duplicate_peak=0.0, p_c13_only=0.0, p_h1_only=0.0)
    keep = augment(labelled, np.random.default_rng(1), replace(quiet, p_labels=1.0, drop_label=0.0))
    assert [p.n_h for p in keep.c13] == [0, 1, 1, 1, 3]
    gone = augment(labelled, np.random.default_rng(1), replace(quiet, p_labels=0.0))
    assert all(p.n_h is None for p in gone.c13)
    # no labels: the same draws as a spectrum augmented before labels existed
    a = augment(toluene, np.random.default_rng(7), Augmentation())
    b = augment(labelled, np.random.default_rng(7), replace(Augmentation(), p_labels=0.0))
    assert a.formula == b.formula and (a.c13 is None) == (b.c13 is None)
    if a.c13:
        assert np.allclose(a.c13.shifts, b.c13.shifts)
    seen = [
        sum(p.n_h is not None for p in augment(labelled, np.random.default_rng(s), quiet).c13)
        for s in range(200)
    ]
    assert 0.35 < np.mean([n > 0 for n in seen]) < 0.65, "default p_labels is one half"


@pytest.mark.parametrize("policy", ["off", "demote", "drop"])
def test_beam_label_policy(tiny_generator, tiny_pairs, policy) -> None:
    # two CH3 peaks: toluene (one CH3) cannot give them
    query = _labelled(_toluene(tiny_pairs), [0, 1, 1, 3, 3])
    wanted = query_label_counts(query)
    plain = propose([query], tiny_generator, beam=6, label_policy="off")[0]
    result = propose([query], tiny_generator, beam=6, label_policy=policy)[0]
    smiles = [c.smiles for c in result.candidates]
    fits = [labels_fit(chem.parse_smiles(s), wanted) for s in smiles]
    by_smiles = {c.smiles: c for c in plain.candidates}
    assert "Cc1ccccc1" in by_smiles, "the tiny model proposes toluene for its spectrum"
    if policy == "off":
        assert smiles == list(by_smiles)
    elif policy == "demote":
        assert sorted(smiles) == sorted(by_smiles)
        for c in result.candidates:
            ruled_out = not labels_fit(chem.parse_smiles(c.smiles), wanted)
            assert c.logprob == pytest.approx(
                by_smiles[c.smiles].logprob - (LABEL_PENALTY if ruled_out else 0.0)
            )
        assert [c.logprob for c in result.candidates] == sorted(
            (c.logprob for c in result.candidates), reverse=True
        )
    else:
        assert "Cc1ccccc1" not in smiles and all(fits)
    unlabelled = propose([_toluene(tiny_pairs)], tiny_generator, beam=6, label_policy=policy)[0]
    assert [c.smiles for c in unlabelled.candidates] == list(by_smiles)[
        : len(unlabelled.candidates)
    ]


def test_unknown_label_policy_is_refused(tiny_generator, tiny_pairs) -> None:
    with pytest.raises(ValueError, match="label_policy"):
        propose([_toluene(tiny_pairs)], tiny_generator, label_policy="maybe")


def test_peak_labels_survive_augmentation_jitter() -> None:
    spectrum = Spectrum(
        "x", c13=PeakList(Nucleus.C13, (Peak(20.0, n_h=3), Peak(130.0, n_h=1))), formula="C2H4"
    )
    out = augment(
        spectrum,
        np.random.default_rng(0),
        Augmentation(p_labels=1.0, drop_label=0.0, p_h1_only=0.0),
    )
    assert [n_h for _, n_h in sorted((p.shift, p.n_h) for p in out.c13)] == [3, 1]


def test_grown_generator_fine_tunes_on_labelled_pairs_and_resumes(
    tiny_generator, tiny_pairs, tmp_path
) -> None:
    from nmrpeak_cli.generate.model import load_generator
    from nmrpeak_cli.generate.train import train_phase
    from tests.generate.conftest import tiny_config

    toluene = _labelled(_toluene(tiny_pairs), [0, 1, 1, 1, 3])
    pairs = [p if p.spectrum.id != "toluene" else replace(p, spectrum=toluene) for p in tiny_pairs]
    grown = with_label_tokens(tiny_generator)
    config = replace(tiny_config(), max_steps=4, eval_every=2)
    first = train_phase(pairs, pairs, config, tmp_path, init=grown)
    assert first.steps == 4 and first.generator.spectrum_tokenizer.labels
    label_rows = first.generator.model.src_embed.weight[-len(LABEL_TOKENS) :]
    assert float(label_rows.detach().abs().sum()) > 0, "the label rows learn"
    again = train_phase(pairs, pairs, replace(config, max_steps=6), tmp_path, resume=True)
    assert again.steps == 6 and len(again.history) == 3
    last = load_generator(tmp_path / "last.safetensors")
    assert last.spectrum_tokenizer.labels
    assert (
        len(last.spectrum_tokenizer.encode(toluene))
        == len(tiny_generator.spectrum_tokenizer.encode(toluene)) + 5
    )
