"""Bug bank (to be filled)."""

from bugbank import Bug  # noqa: F401

BUGS: list = []
