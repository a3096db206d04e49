"""The shift model: an edge-aware message-passing network written in plain torch.

Why hand-written rather than chemprop v2: chemprop pulls in lightning and pins its own torch
range, and we need per-atom heads for two nuclei, a solvent embedding and matching-based
losses, which are a few dozen lines here. Message passing uses ``index_add_`` over a flat
edge list, so a batch of molecules is one disjoint graph.

Layer (GINE-style with a residual MLP): ``m_ij = SiLU(h_j + W_e e_ij)``, ``a_i = Σ_j m_ij``,
``h_i ← h_i + MLP(LayerNorm(h_i + a_i))``. The head sees each atom's state, the mean state of
its molecule and the solvent embedding, and gives a normalized 13C and 1H shift per atom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from nmrpeak_cli.artifacts import DictConfig
from nmrpeak_cli.predict.featurize import (
    ATOM_DIM,
    BOND_DIM,
    FEATURE_VERSION,
    MODEL_SOLVENTS,
    MolGraph,
)


@dataclass(frozen=True, slots=True)
class ModelConfig(DictConfig):
    """Architecture and target normalization; stored next to the weights as JSON."""

    config_name: ClassVar[str] = "model config"

    hidden: int = 192
    """Width of atom states."""
    layers: int = 5
    """Message-passing layers."""
    dropout: float = 0.0
    """Dropout inside the layer MLPs."""
    c13_mean: float = 100.0
    """Mean of 13C training targets, ppm."""
    c13_std: float = 50.0
    """Standard deviation of 13C training targets, ppm."""
    h1_mean: float = 4.0
    """Mean of 1H training targets, ppm."""
    h1_std: float = 2.5
    """Standard deviation of 1H training targets, ppm."""
    atom_dim: int = ATOM_DIM
    """Atom feature width (must match the featurizer)."""
    bond_dim: int = BOND_DIM
    """Bond feature width (must match the featurizer)."""
    n_solvents: int = len(MODEL_SOLVENTS)
    """Solvent categories."""
    feature_version: str = FEATURE_VERSION
    """Featurizer version the weights were trained with."""


@dataclass(frozen=True, slots=True)
class GraphBatch:
    """Several molecules as one disjoint graph (torch tensors)."""

    atom_features: torch.Tensor
    """``(n_atoms, atom_dim)`` float32."""
    edge_index: torch.Tensor
    """``(2, n_edges)`` int64, offsets applied."""
    edge_features: torch.Tensor
    """``(n_edges, bond_dim)`` float32."""
    molecule: torch.Tensor
    """``(n_atoms,)`` int64 molecule index of each atom."""
    solvent: torch.Tensor
    """``(n_molecules,)`` int64 solvent category."""
    offsets: np.ndarray
    """``(n_molecules + 1,)`` first atom of each molecule (numpy, for slicing results)."""

    def to(self, device: torch.device | str) -> GraphBatch:
        """Copy to ``device``."""
        return GraphBatch(
            self.atom_features.to(device),
            self.edge_index.to(device),
            self.edge_features.to(device),
            self.molecule.to(device),
            self.solvent.to(device),
            self.offsets,
        )


def collate(graphs: Sequence[MolGraph]) -> GraphBatch:
    """Stack molecule graphs into one :class:`GraphBatch`."""
    sizes = np.fromiter((g.n_atoms for g in graphs), np.int64, len(graphs))
    offsets = np.zeros(len(graphs) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    edges = np.concatenate(
        [g.edge_index + off for g, off in zip(graphs, offsets, strict=False)], axis=1
    )
    return GraphBatch(
        atom_features=torch.from_numpy(np.concatenate([g.atom_features for g in graphs])),
        edge_index=torch.from_numpy(edges),
        edge_features=torch.from_numpy(np.concatenate([g.edge_features for g in graphs])),
        molecule=torch.from_numpy(np.repeat(np.arange(len(graphs)), sizes)),
        solvent=torch.tensor([g.solvent for g in graphs], dtype=torch.int64),
        offsets=offsets,
    )


class _Layer(nn.Module):
    def __init__(self, hidden: int, bond_dim: int, dropout: float) -> None:
        super().__init__()
        self.edge = nn.Linear(bond_dim, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(
            nn.Linear(hidden, 2 * hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
        )

    def forward(
        self, h: torch.Tensor, edge_index: torch.Tensor, edge_features: torch.Tensor
    ) -> torch.Tensor:
        src, dst = edge_index
        messages = torch.nn.functional.silu(h[src] + self.edge(edge_features))
        aggregate = torch.zeros_like(h).index_add_(0, dst, messages)
        return h + self.mlp(self.norm(h + aggregate))


class ShiftModel(nn.Module):
    """Per-atom 13C and 1H shift predictor (see the module docstring)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        hidden = config.hidden
        self.embed = nn.Linear(config.atom_dim, hidden)
        self.solvent = nn.Embedding(config.n_solvents, hidden)
        self.layers = nn.ModuleList(
            _Layer(hidden, config.bond_dim, config.dropout) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))
        scale = torch.tensor([config.c13_std, config.h1_std], dtype=torch.float32)
        shift = torch.tensor([config.c13_mean, config.h1_mean], dtype=torch.float32)
        self.register_buffer("target_scale", scale, persistent=False)
        self.register_buffer("target_shift", shift, persistent=False)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """Shifts in ppm, ``(n_atoms, 2)``: column 0 13C, column 1 1H (mean over the atom's H).

        Values for atoms that are not carbon (13C) or carry no hydrogen (1H) are meaningless.
        """
        solvent = self.solvent(batch.solvent)
        features = batch.atom_features[:, : self.config.atom_dim]  # older layouts: a prefix
        h = self.embed(features) + solvent[batch.molecule]
        for layer in self.layers:
            h = layer(h, batch.edge_index, batch.edge_features)
        h = self.norm(h)
        n_molecules = batch.solvent.shape[0]
        counts = torch.bincount(batch.molecule, minlength=n_molecules).clamp(min=1).unsqueeze(1)
        pooled = torch.zeros(n_molecules, h.shape[1], dtype=h.dtype, device=h.device)
        pooled = pooled.index_add_(0, batch.molecule, h) / counts
        out = self.head(torch.cat([h, pooled[batch.molecule], solvent[batch.molecule]], dim=1))
        return out * self.target_scale + self.target_shift


def grow_model(model: ShiftModel, layers: int) -> ShiftModel:
    """A copy of ``model`` on the current feature layout with ``layers`` layers that computes
    the same function: weights of appended feature columns are zero and each added layer is
    an identity (its MLP's last linear layer is zero), so training continues from the
    trained model and can only use the new inputs and depth as it learns.

    Raises
    ------
    ValueError
        When ``layers`` is smaller than the model's.
    """
    old = model.config
    if layers < old.layers:
        raise ValueError(f"layers: cannot shrink a model from {old.layers} to {layers} layers")
    config = replace(old, layers=layers, atom_dim=ATOM_DIM, feature_version=FEATURE_VERSION)
    grown = ShiftModel(config)
    state = grown.state_dict()
    for name, value in model.state_dict().items():
        if name == "embed.weight":
            state[name] = torch.zeros_like(state[name])
            state[name][:, : value.shape[1]] = value
        else:
            state[name] = value
    for index in range(old.layers, layers):
        last = f"layers.{index}.mlp.{len(grown.layers[index].mlp) - 1}"
        state[f"{last}.weight"] = torch.zeros_like(state[f"{last}.weight"])
        state[f"{last}.bias"] = torch.zeros_like(state[f"{last}.bias"])
    grown.load_state_dict(state)
    return grown


class ShiftEnsemble(nn.Module):
    """Several :class:`ShiftModel` members predicting together: ``forward`` gives their mean
    (the spread is read by :func:`~nmrpeak_cli.predict.uncertainty.ensemble_atoms`)."""

    def __init__(self, members: Sequence[ShiftModel]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.config = members[0].config

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """Mean of the members' shifts, ``(n_atoms, 2)`` ppm."""
        return torch.stack([member(batch) for member in self.members]).mean(dim=0)
