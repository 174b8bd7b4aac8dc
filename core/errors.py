"""The one exception type that the CLIs turn into a one-line error and a non-zero exit."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or environment the user can fix: printed as one line, exit code `exit_code`."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
