"""I/O: the paho-mqtt transport (the only code that opens sockets) and the worker thread that
runs user code off paho's network thread."""

from ..errors import AuthenticationError, ConnectError
from .mqtt import Ack, Backoff, BrokerAddress, Credentials, MqttTransport, TlsOptions, is_loopback
from .worker import Worker

__all__ = [
    "Ack",
    "AuthenticationError",
    "Backoff",
    "BrokerAddress",
    "ConnectError",
    "Credentials",
    "MqttTransport",
    "TlsOptions",
    "Worker",
    "is_loopback",
]
