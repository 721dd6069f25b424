"""The one exception tree of mobilekit.

Library code raises these; only the CLI turns them into a message, a hint and an exit code
(see ``mobilekit.cli``). Each class owns its exit code so scripts can tell failures apart.
"""

from __future__ import annotations


class MobilekitError(Exception):
    """An error with a message that says what is wrong and a hint that says how to fix it.

    Never raised itself: each failure raises the subclass that names its kind and exit code, and
    exit 1 (this class's) stays reserved for bugs (``InternalError``).
    """

    EXIT_CODE = 1
    KIND = "error"

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict:
        return {"kind": self.KIND, "message": self.message, "hint": self.hint, "exit_code": self.EXIT_CODE}


class InternalError(MobilekitError):
    """A bug in mobilekit (a broken invariant): exit 1, like an unexpected exception."""

    EXIT_CODE = 1
    KIND = "internal"


class UsageError(MobilekitError):
    """The command line asks for something impossible: an unknown stage, stages out of order, a
    stage whose inputs were never built."""

    EXIT_CODE = 2
    KIND = "usage"


class ConfigError(MobilekitError):
    """mobilekit.toml or a command-line override is invalid."""

    EXIT_CODE = 3
    KIND = "config"


class ModelInputError(MobilekitError):
    """The model folder or the data files the config points at cannot be used."""

    EXIT_CODE = 4
    KIND = "input"


class ToolMissingError(MobilekitError):
    """An external tool (kotlinc, the Swift chroot, qemu...) is absent or too old."""

    EXIT_CODE = 5
    KIND = "tool"


class ConversionError(MobilekitError):
    """A converter (torch.onnx, onnx2tf, coremltools) failed or produced an unusable model."""

    EXIT_CODE = 6
    KIND = "conversion"


class VerificationError(MobilekitError):
    """A converted variant disagrees with the original beyond its tolerance (and the build is strict)."""

    EXIT_CODE = 7
    KIND = "verification"


class BenchmarkRegressionError(MobilekitError):
    """A benchmark figure grew past the allowed margin over the baseline."""

    EXIT_CODE = 8
    KIND = "benchmark"


class SdkBuildError(MobilekitError):
    """Generated SDK code failed to compile, test or package."""

    EXIT_CODE = 9
    KIND = "sdk"


class BuildLockedError(MobilekitError):
    """Another mobilekit process is using the same build directory."""

    EXIT_CODE = 10
    KIND = "busy"


class StageNotAvailableError(MobilekitError):
    """The stage exists in the pipeline but this version of mobilekit cannot run it yet."""

    EXIT_CODE = 11
    KIND = "unavailable"


INTERRUPTED_EXIT_CODE = 130  # the shell's convention for SIGINT
INTERNAL_ERROR_EXIT_CODE = 1
