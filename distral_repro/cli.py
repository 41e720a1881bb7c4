"""Shared pieces of the command-line entry points (train, gridworld)."""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """Bad command-line input: reported as one line on stderr, exit 2, nothing written."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise UsageError instead of printing usage and exiting."""

    def error(self, message: str):
        raise UsageError(message)
