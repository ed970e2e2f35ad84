"""User-facing errors: a message that says what is wrong and what to do, never a traceback."""


class MemlensError(Exception):
    """An error caused by the user's input or run directory, reported by the CLI as one paragraph."""


class DataError(MemlensError, ValueError):
    """The dataset cannot be loaded or is malformed (lengths, NaNs, labels)."""


class RunStoreError(MemlensError):
    """A run directory is foreign, from another configuration, or damaged."""
