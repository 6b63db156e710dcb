"""Errors a user can cause. Each says what went wrong and what to do; the CLI prints it without a
traceback and exits non-zero."""


class FaceganError(Exception):
    """Base class of every error a user can cause (bad input, bad files, bad options)."""

    exit_code = 1


class ConfigError(FaceganError):
    """An option or configuration value is invalid or inconsistent."""

    exit_code = 2


class NetworkInputError(ConfigError):
    """What a network was given at run time does not fit it: latents, ws, images or labels of the
    wrong shape, a class out of range, per-layer truncation of the wrong length. (A ConfigError
    subclass, so that handlers of bad user values keep catching it; exit code 1, not usage 2.)"""

    exit_code = 1


class DatasetError(FaceganError):
    """A dataset source or archive cannot be read or converted."""


class NetworkFormatError(FaceganError):
    """A network file is not in a format we can read, or does not match the architecture."""


class UnsafePickleError(NetworkFormatError):
    """A pickle asked for something outside the allow-list of the format it claims to be."""


class CheckpointError(FaceganError):
    """A training checkpoint is missing, incomplete or does not match the run."""


class TrainingError(FaceganError):
    """Training cannot go on (e.g. the loss stayed non-finite, the disk is full)."""


class MetricError(FaceganError):
    """A metric cannot be computed (e.g. its feature network is not available offline)."""
