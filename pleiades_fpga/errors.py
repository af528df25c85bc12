"""Exceptions with user-facing messages (printed by the CLI without a traceback)."""


class PleiadesError(ValueError):
    """Bad input or an unsupported request; the message names what is wrong and how to fix it."""


class UnsupportedModelError(PleiadesError):
    """A model/graph contains something a stage of the flow cannot handle (names the layer/op)."""


class DataFormatError(PleiadesError):
    """An event file or dataset directory is missing or malformed (names the file and the first bad event)."""


class RequestTooLargeError(PleiadesError):
    """A request would need more memory than the machine has (names the figure and how to shrink it)."""


class DoesNotFitError(PleiadesError):
    """A design does not fit the target part (names the overflowing resource)."""


class BackendNotInstalledError(PleiadesError):
    """An optional backend's tools (e.g. FINN, hls4ml) are not installed; the message says how to install them."""
