"""Errors the CLI reports as one clear line, without a traceback."""


class UserFacingError(RuntimeError):
    """Its message says what went wrong and what to do about it."""
