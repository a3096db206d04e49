"""Exception types. All subclass ``ValueError`` or ``OSError`` so callers can catch broadly."""

from __future__ import annotations


class NmrpeakError(Exception):
    """Base class of every error nmrpeak raises on purpose."""


class SpectrumError(NmrpeakError, ValueError):
    """A peak, peak list or spectrum failed validation.

    Parameters
    ----------
    message
        What is wrong, naming the received value and what was expected.
    field
        The field (``c13``, ``h1``, ``formula``...) the problem is in, when known.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ParseError(SpectrumError):
    """Text (a journal peak string, a table cell, an SDF tag) could not be parsed."""


class ChemistryError(NmrpeakError, ValueError):
    """A SMILES or molecule could not be parsed or sanitized."""


class InputFileError(NmrpeakError, OSError):
    """A whole input file or folder is missing, unreadable or of an unknown format (exit code 2)."""


class NotAvailableError(NmrpeakError, RuntimeError):
    """A feature is not built yet or needs a component (model, library) that is absent."""


class LeakageError(NmrpeakError, ValueError):
    """A validation or test molecule is in a training set."""
