"""Typed errors. The CLI turns any SrkdError into one line on stderr and exit code 1."""


class SrkdError(Exception):
    """Base class of every error srkd raises on purpose."""


class UnknownNameError(SrkdError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(SrkdError):
    """A configuration value or file is invalid."""


class CheckpointError(SrkdError):
    """A checkpoint file cannot be read or does not describe a known model."""


class ImageReadError(SrkdError):
    """An image file is missing, unreadable or of an unsupported kind."""


class DataError(SrkdError):
    """A data folder is missing or holds no usable images."""


class BackendUnavailableError(SrkdError):
    """A runtime (onnxruntime, TensorRT, CUDA...) is not installed or not usable."""


class ParityError(SrkdError):
    """An exported artifact does not reproduce the PyTorch fp32 output closely enough."""


class TrainingError(SrkdError):
    """Training cannot continue (NaN loss, incompatible resume, ...)."""
