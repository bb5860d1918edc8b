"""Errors a user can act on. The CLI prints their message as one line and exits non-zero.

Exit codes (see docs/errors.md): 0 success, 1 general failure (including output that could
not be written), 2 command-line usage error (click's own code), 3 bad index, 4 bad input.
Input errors are not 2 because click already uses 2 for a mistyped command line, and a
script should be able to tell "fix your command" from "fix your data".
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # click.UsageError
EXIT_INDEX = 3
EXIT_INPUT = 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class AlignerError(Exception):
    """A problem with the input, the index or the environment, explained for a user."""

    exit_code = EXIT_FAILURE


class InputError(AlignerError):
    """An input file or record that cannot be read."""

    exit_code = EXIT_INPUT


class NotTextError(InputError):
    """An input file that is not text at all (an image, an archive, NUL bytes). Inside a
    folder such files are skipped with a warning instead of stopping the run."""


class IndexError_(AlignerError):
    """An index folder that is missing, damaged or made with another encoder."""

    exit_code = EXIT_INDEX
