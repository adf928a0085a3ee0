"""Helpers shared by the tests, imported as modules (``from tests.support import brokers``)."""
