"""The generator: an encoder–decoder transformer from spectrum tokens to SMILES tokens.

Pre-LN ``torch.nn.Transformer`` with learned position embeddings. The encoder reads the ids
of :meth:`~nmrpeak_cli.tokenizer.SpectrumTokenizer.encode` (13C, 1H and formula blocks, any
of them may be absent: one model serves the six input configurations); the decoder writes
atom-level isomeric SMILES tokens (:class:`~nmrpeak_cli.tokenizer.SmilesTokenizer`).

Persistence: ``generator.safetensors`` (weights only), ``generator.json`` (card: config,
sha256 of the weights, fusion weights for reranking, provenance) and
``generator.tokenizer.json`` (both tokenizers). Loading rebuilds the model from the config
and refuses weights whose sha256 or tensor shapes disagree with the card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from nmrpeak_cli.artifacts import DictConfig, card_path, load_artifact, save_artifact
from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.paths import models_dir
from nmrpeak_cli.tokenizer import PAD, SmilesTokenizer, SpectrumTokenizer

MODEL_NAME = "generator"
"""File stem of the shipped generator in the models folder."""
MODEL_KIND = "nmrpeak.SpectrumToSmiles"
TOKENIZER_SIDECAR = "tokenizer"
"""Sidecar of both tokenizers: ``generator.tokenizer.json``."""


@dataclass(frozen=True, slots=True)
class GeneratorConfig(DictConfig):
    """Architecture of :class:`SpectrumToSmiles`; stored in the model card."""

    config_name: ClassVar[str] = "generator config"

    src_vocab: int
    """Spectrum tokenizer vocabulary size."""
    tgt_vocab: int
    """SMILES tokenizer vocabulary size."""
    d_model: int = 256
    """Width of token states."""
    n_heads: int = 8
    """Attention heads."""
    n_encoder_layers: int = 4
    """Encoder layers."""
    n_decoder_layers: int = 4
    """Decoder layers."""
    d_ff: int = 1024
    """Feed-forward width."""
    dropout: float = 0.1
    """Dropout in attention and feed-forward blocks (training only)."""
    max_src_len: int = 320
    """Longest spectrum token sequence (longer inputs are refused)."""
    max_tgt_len: int = 160
    """Longest SMILES token sequence, ``<bos>``/``<eos>`` included."""

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})"
            )
        for name in ("src_vocab", "tgt_vocab", "d_model", "max_src_len", "max_tgt_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class SpectrumToSmiles(nn.Module):
    """Encoder–decoder transformer (pre-LN) over token ids.

    Parameters
    ----------
    config
        Architecture.
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.src_embed = nn.Embedding(config.src_vocab, d, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(config.tgt_vocab, d, padding_idx=PAD)
        self.src_pos = nn.Embedding(config.max_src_len, d)
        self.tgt_pos = nn.Embedding(config.max_tgt_len, d)
        layer = {  # both stacks' layers: pre-LN, batch first
            "d_model": d, "nhead": config.n_heads, "dim_feedforward": config.d_ff,
            "dropout": config.dropout, "batch_first": True, "norm_first": True,
        }  # fmt: skip
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**layer),
            config.n_encoder_layers,
            norm=nn.LayerNorm(d),
            enable_nested_tensor=False,
        )
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(**layer), config.n_decoder_layers, norm=nn.LayerNorm(d)
        )
        self.out = nn.Linear(d, config.tgt_vocab)
        self.scale = d**0.5

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode spectrum ids ``(batch, src_len)``; return memory and its padding mask."""
        if src.shape[1] > self.config.max_src_len:
            raise ValueError(
                f"spectrum has {src.shape[1]} tokens; this model reads at most "
                f"{self.config.max_src_len}"
            )
        mask = src == PAD
        positions = torch.arange(src.shape[1], device=src.device)
        x = self.src_embed(src) * self.scale + self.src_pos(positions)
        return self.encoder(x, src_key_padding_mask=mask), mask

    def decode(
        self, tgt: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor
    ) -> torch.Tensor:
        """Next-token logits ``(batch, tgt_len, tgt_vocab)`` for SMILES prefixes ``tgt``."""
        length = tgt.shape[1]
        positions = torch.arange(length, device=tgt.device)
        y = self.tgt_embed(tgt) * self.scale + self.tgt_pos(positions)
        causal = torch.triu(
            torch.ones(length, length, dtype=torch.bool, device=tgt.device), diagonal=1
        )
        h = self.decoder(
            y,
            memory,
            tgt_mask=causal,
            tgt_is_causal=True,
            tgt_key_padding_mask=tgt == PAD,
            memory_key_padding_mask=memory_mask,
        )
        return self.out(h)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits for ``tgt`` (``<bos>`` … last input token)."""
        memory, mask = self.encode(src)
        return self.decode(tgt, memory, mask)

    def start_decoding(self, memory: torch.Tensor, memory_mask: torch.Tensor) -> DecoderCache:
        """A key/value cache for :meth:`decode_step` (cross-attention keys precomputed)."""
        allowed = ~memory_mask[:, None, None, :]
        cross = [
            (
                _heads(_project(layer.multihead_attn, memory, 1), layer.multihead_attn.num_heads),
                _heads(_project(layer.multihead_attn, memory, 2), layer.multihead_attn.num_heads),
            )
            for layer in self.decoder.layers
        ]
        return DecoderCache(cross, [None] * len(self.decoder.layers), allowed)

    def decode_step(
        self, tokens: torch.Tensor, position: int, cache: DecoderCache
    ) -> tuple[torch.Tensor, DecoderCache]:
        """Logits ``(batch, tgt_vocab)`` after appending ``tokens`` ``(batch,)`` at ``position``.

        Equivalent to the last position of :meth:`decode` over the whole prefix, in time
        linear in the prefix length (the prefix never contains padding during decoding).
        """
        x = self.tgt_embed(tokens)[:, None, :] * self.scale + self.tgt_pos.weight[position]
        new_self = []
        for layer, (cross_k, cross_v), past in zip(
            self.decoder.layers, cache.cross, cache.self_kv, strict=True
        ):
            attn, heads = layer.self_attn, layer.self_attn.num_heads
            h = layer.norm1(x)
            q = _heads(_project(attn, h, 0), heads)
            k = _heads(_project(attn, h, 1), heads)
            v = _heads(_project(attn, h, 2), heads)
            if past is not None:
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            new_self.append((k, v))
            x = x + attn.out_proj(_merge(F.scaled_dot_product_attention(q, k, v)))
            cross = layer.multihead_attn
            q = _heads(_project(cross, layer.norm2(x), 0), cross.num_heads)
            out = F.scaled_dot_product_attention(q, cross_k, cross_v, attn_mask=cache.allowed)
            x = x + cross.out_proj(_merge(out))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        logits = self.out(self.decoder.norm(x))[:, 0]
        return logits, DecoderCache(cache.cross, new_self, cache.allowed)


@dataclass(frozen=True)
class DecoderCache:
    """Keys/values of incremental decoding, ``(batch, heads, length, head_dim)`` each."""

    cross: list[tuple[torch.Tensor, torch.Tensor]]
    """Per decoder layer: projected memory keys and values."""
    self_kv: list[tuple[torch.Tensor, torch.Tensor] | None]
    """Per decoder layer: projected keys and values of the tokens decoded so far."""
    allowed: torch.Tensor
    """``(batch, 1, 1, src_len)`` True where the memory is not padding."""

    def select(self, rows: torch.Tensor) -> DecoderCache:
        """The cache of the given batch rows (beam reordering)."""
        return DecoderCache(
            [(k[rows], v[rows]) for k, v in self.cross],
            [None if kv is None else (kv[0][rows], kv[1][rows]) for kv in self.self_kv],
            self.allowed[rows],
        )


def _project(attn: nn.MultiheadAttention, x: torch.Tensor, part: int) -> torch.Tensor:
    d = attn.embed_dim
    weight = attn.in_proj_weight[part * d : (part + 1) * d]
    bias = attn.in_proj_bias[part * d : (part + 1) * d]
    return F.linear(x, weight, bias)


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    batch, length, d = x.shape
    return x.view(batch, length, heads, d // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    batch, heads, length, dh = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * dh)


@dataclass(frozen=True, slots=True)
class RerankCalibration:
    """The generator's rerank calibration: logistic fusion of a candidate's evidence into a
    calibrated score in [0, 1] (stored in the card under ``fusion``; the retriever's
    :class:`~nmrpeak_cli.retrieve.search.FusionWeights` is another thing).

    ``score = sigmoid(bias + w_logprob * logprob_per_token + w_similarity * similarity)``;
    the beam-only score uses ``beam_bias + beam_w_logprob * logprob_per_token``.
    """

    w_logprob: float = 1.0
    """Weight of the length-normalized log-probability."""
    w_similarity: float = 6.0
    """Weight of the predicted-vs-query spectrum similarity."""
    bias: float = -4.0
    """Intercept of the rerank fusion."""
    beam_w_logprob: float = 2.0
    """Weight of the length-normalized log-probability when no similarity is available."""
    beam_bias: float = 0.0
    """Intercept of the beam-only score."""
    fitted_on: str | None = None
    """What the weights were fitted on (``None``: defaults, not fitted)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RerankCalibration:
        """Inverse of :meth:`to_dict` (``None`` gives the defaults)."""
        return cls(**(data or {}))


@dataclass(frozen=True)
class Generator:
    """A loaded generator: network, both tokenizers, fusion weights and card.

    Attributes
    ----------
    model
        The network (eval mode).
    spectrum_tokenizer, smiles_tokenizer
        Input and output vocabularies.
    fusion
        Score fusion weights for reranking.
    card
        The full model card (provenance, metrics).
    """

    model: SpectrumToSmiles
    spectrum_tokenizer: SpectrumTokenizer
    smiles_tokenizer: SmilesTokenizer
    fusion: RerankCalibration = field(default_factory=RerankCalibration)
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        """Device the network lives on."""
        return next(self.model.parameters()).device


def build_generator(
    spectrum_tokenizer: SpectrumTokenizer,
    smiles_tokenizer: SmilesTokenizer,
    *,
    seed: int = 0,
    **config: Any,
) -> Generator:
    """A randomly initialized generator sized to the two tokenizers (``config`` overrides)."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(
        src_vocab=len(spectrum_tokenizer), tgt_vocab=len(smiles_tokenizer), **config
    )
    model = SpectrumToSmiles(cfg).eval()
    return Generator(model, spectrum_tokenizer, smiles_tokenizer)


def weights_path(directory: str | Path | None = None) -> Path:
    """``generator.safetensors`` in ``directory`` (default: :func:`models_dir`)."""
    return Path(directory if directory is not None else models_dir()) / f"{MODEL_NAME}.safetensors"


def save_generator(
    generator: Generator,
    weights: str | Path,
    card: dict[str, Any] | None = None,
    *,
    half: bool = False,
) -> Path:
    """Write weights (safetensors), tokenizers and card next to each other; return the card path.

    ``card`` adds provenance (data, seed, metrics, command) to the required fields. ``half``
    stores floating-point tensors as float16 (half the size, for shipped weights; loading
    casts them back to the model's float32).
    """
    tokenizers = {
        "spectrum": generator.spectrum_tokenizer.to_dict(),
        "smiles": list(generator.smiles_tokenizer.vocab),
    }
    save_artifact(
        weights,
        generator.model.state_dict(),
        generator.model.config,
        {**generator.card, **(card or {}), "fusion": generator.fusion.to_dict()},
        model=MODEL_KIND,
        half=half,
        sidecars={TOKENIZER_SIDECAR: tokenizers},
    )
    return card_path(weights)


def load_generator(weights: str | Path | None = None, device: str = "cpu") -> Generator:
    """Rebuild the generator from its card and load the weights (default: the shipped one).

    Raises
    ------
    NotAvailableError
        One-line message when a file is missing, a sha256 differs from the card, or the
        tensors do not fit the config.
    """
    weights = Path(weights) if weights is not None else weights_path()
    if weights.is_dir():
        weights = weights_path(weights)
    missing = (
        f"generator weights {weights} not found; train them with `nmrpeak train generator` "
        "or set NMRPEAK_MODELS to the folder holding generator.safetensors"
    )
    artifact = load_artifact(
        weights, GeneratorConfig, _build_network, missing=missing, sidecars=(TOKENIZER_SIDECAR,)
    )
    config, card = artifact.config, artifact.card
    try:
        tokenizers = artifact.sidecars[TOKENIZER_SIDECAR]
        spectrum_tokenizer = SpectrumTokenizer.from_dict(tokenizers["spectrum"])
        smiles_tokenizer = SmilesTokenizer(tuple(tokenizers["smiles"]))
        fusion = RerankCalibration.from_dict(card.get("fusion"))
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAvailableError(f"generator card {card_path(weights)} is invalid: {exc}") from None
    if (config.src_vocab, config.tgt_vocab) != (len(spectrum_tokenizer), len(smiles_tokenizer)):
        raise NotAvailableError(
            f"generator config vocabularies ({config.src_vocab}, {config.tgt_vocab}) do not match "
            f"its tokenizers ({len(spectrum_tokenizer)}, {len(smiles_tokenizer)})"
        )
    model = artifact.model.to(device).eval()
    return Generator(model, spectrum_tokenizer, smiles_tokenizer, fusion, card)


def _build_network(config: GeneratorConfig, tensors: dict[str, torch.Tensor]) -> SpectrumToSmiles:
    model = SpectrumToSmiles(config)
    model.load_state_dict(tensors)
    return model
