"""Typed errors. The CLI turns any SrkdError into one line on stderr and its exit code (1; Interrupted: 130)."""


class SrkdError(Exception):
    """Base class of every error srkd raises on purpose; the CLI prints it as one line and exits ``exit_code``."""

    exit_code = 1


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


class ImageWriteError(SrkdError):
    """An output file cannot be written (no space, no permission, a file where a folder should be...)."""


class DataError(SrkdError):
    """A data folder is missing or holds no usable images."""


class BackendUnavailableError(SrkdError):
    """A runtime (onnxruntime, TensorRT, CUDA...) is not installed or not usable."""


class ParityError(SrkdError):
    """An exported artifact does not reproduce the PyTorch fp32 output closely enough."""


class ConversionError(SrkdError):
    """A converter (pnnx, litert-torch) failed on a model or produced a graph its runtime cannot run."""


class TrainingError(SrkdError):
    """Training cannot continue (NaN loss, incompatible resume, ...)."""


class Interrupted(SrkdError):
    """Ctrl-C or SIGTERM stopped a command cleanly; the text says what was kept and how to go on."""

    exit_code = 130


def one_line(text: str, *, limit: int | None = None) -> str:
    """``text`` as one printable line: newlines, tabs and other control characters (in file names,
    say) escaped, so an error or a report reason never splits or hides what follows them."""
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return out if limit is None or len(out) <= limit else out[: limit - 3] + "..."
