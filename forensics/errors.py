"""Errors the CLI turns into one clear line and an exit code (never a traceback)."""

from __future__ import annotations


class ForensicsError(Exception):
    """A runtime failure the user can act on; the message names file:line and what to do. Exit 1."""


class UsageError(ForensicsError):
    """The command was called wrongly (unknown format, bad option value). Exit 2."""
