"""Core ML ML programs read and executed without Core ML (any OS): see ``interpreter``."""

from mobilekit.mil.interpreter import MilProgram, list_ops, run_mil_program
from mobilekit.mil.ops import UnsupportedMilOp, supported_ops
from mobilekit.mil.package import MilFormatError

__all__ = ["MilProgram", "MilFormatError", "UnsupportedMilOp", "list_ops", "run_mil_program", "supported_ops"]
