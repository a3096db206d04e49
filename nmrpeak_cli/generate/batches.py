"""Training batches of the generator: length-bucketed epochs of augmented, encoded pairs.

:func:`batch_stream` is the endless stream :func:`~nmrpeak_cli.generate.train.train_phase`
steps through; batch ``i`` of a run depends only on the seed and ``i``, so it is the same
whether it is encoded in the training process or by any number of forked workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nmrpeak_cli.generate.inputs import Augmentation, augment, pad_batch
from nmrpeak_cli.generate.model import Generator
from nmrpeak_cli.generate.pairs import Pair
from nmrpeak_cli.tokenizer import SmilesTokenizer, SpectrumTokenizer, smiles_tokens

if TYPE_CHECKING:
    from nmrpeak_cli.generate.train import TrainConfig


def length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 50
) -> list[np.ndarray]:
    """One epoch of batches of similar-length examples, in random order.

    A random permutation is cut into pools of ``pool`` batches; each pool is sorted by
    length and cut into batches. Padding then wastes little compute (on the experimental
    set, random batches pad SMILES of 30 tokens on average to 78) while every batch is
    still a random draw of the data.
    """
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = order[start : start + batch_size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass(frozen=True, slots=True)
class BatchEncoder:
    """What turns pairs into token arrays: the generator's tokenizers and source length."""

    spectra: SpectrumTokenizer
    smiles: SmilesTokenizer
    max_src_len: int

    @classmethod
    def of(cls, generator: Generator) -> BatchEncoder:
        """The encoder of ``generator``'s tokenizers."""
        return cls(
            generator.spectrum_tokenizer,
            generator.smiles_tokenizer,
            generator.model.config.max_src_len,
        )

    def __call__(
        self, pairs: Sequence[Pair], rng: np.random.Generator | None, aug: Augmentation
    ) -> tuple[np.ndarray, np.ndarray]:
        """Padded source and target arrays of ``pairs`` (augmented when ``rng`` is given)."""
        spectra = [augment(p.spectrum, rng, aug) if rng is not None else p.spectrum for p in pairs]
        src = [self.spectra.encode(s)[: self.max_src_len] for s in spectra]
        return pad_batch(src), pad_batch([self.smiles.encode(p.smiles) for p in pairs])


class _EpochBatches:
    """One epoch of augmented, encoded batches, indexable (a map-style torch dataset).

    Batch ``i`` is augmented with its own generator seeded by ``(seed, first_step + i)``,
    so the stream is the same whether it is made here or by any number of workers.
    """

    def __init__(self, encoder, pairs, batches, aug, seed: int, first_step: int) -> None:
        self.encoder, self.pairs, self.batches = encoder, pairs, batches
        self.aug, self.seed, self.first_step = aug, seed, first_step

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((self.seed, self.first_step + i))
        batch = [self.pairs[j] for j in self.batches[i]]
        return self.encoder(batch, rng, self.aug)


def batch_stream(
    generator: Generator,
    pairs: Sequence[Pair],
    config: TrainConfig,
    step: int,
    workers: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless training batches from ``step`` on: length-bucketed epochs, augmented.

    ``workers`` > 0 encodes batches in that many worker processes (forked: the pairs are
    shared, not copied; they never touch the model), which keeps a GPU busy; 0 encodes
    them here.
    """
    encoder = BatchEncoder.of(generator)
    lengths = np.array([len(smiles_tokens(p.smiles)) for p in pairs])
    while True:
        rng = np.random.default_rng((config.seed, step))
        epoch = _EpochBatches(
            encoder, pairs, length_batches(lengths, config.batch_size, rng),
            config.augmentation, config.seed, step,
        )  # fmt: skip
        if workers > 0:
            import torch.utils.data

            yield from torch.utils.data.DataLoader(
                epoch, batch_size=None, shuffle=False, num_workers=workers,
                prefetch_factor=4, multiprocessing_context="fork",
                collate_fn=lambda b: b,
            )  # fmt: skip
        else:
            yield from (epoch[i] for i in range(len(epoch)))
        step += len(epoch)
