"""Exception hierarchy. Every error raised on bad user input is a :class:`GroupcompError`."""

from __future__ import annotations


class GroupcompError(Exception):
    """Base class of all groupcomp errors (catch this to handle any user-facing failure)."""


class GroupError(GroupcompError, ValueError):
    """A table or spec does not define a valid finite group."""


class GroupSpecError(GroupcompError, ValueError):
    """A group spec string such as ``"C4xC4"`` could not be parsed."""


class IrrepError(GroupcompError, RuntimeError):
    """An irrep construction failed its verification (should never happen; please report)."""


class ConfigError(GroupcompError, ValueError):
    """A configuration key or value is invalid. The message names the key and allowed values."""


class ResourceLimitError(ConfigError):
    """A request would exceed a resource limit (memory, disk, time) decided before any work;
    the message gives the numbers and the way out."""


class DivergenceError(GroupcompError, RuntimeError):
    """Training produced NaN/inf. The run folder keeps its last good checkpoint."""


class RunFolderError(GroupcompError, OSError):
    """A run folder is missing, incomplete, or would be overwritten."""


class ShapeError(GroupcompError, ValueError):
    """An array has the wrong shape for the group or task it is used with."""


class TemplateError(ConfigError, ShapeError):
    """A template has the wrong shape, or contains NaN/inf (both a config and a shape error)."""
