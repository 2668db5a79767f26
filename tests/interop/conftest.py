"""The vendors' own SDKs as peers: the brokers come from the integration suite."""

from ..integration.conftest import mosquitto  # noqa: F401  (a fixture)
