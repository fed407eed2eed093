"""Tokenomics Desk: a terminal trading desk for a marketplace of AI-provider credits."""

__version__ = "0.1.0"
