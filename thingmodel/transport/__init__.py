"""I/O: the paho-mqtt transport (the only code that opens sockets), the one I/O loop that serves
every connection, and the worker pool that runs user code off it."""

from ..errors import AuthenticationError, ConnectError
from .loop import IoLoop
from .mqtt import Ack, Backoff, BrokerAddress, Credentials, MqttTransport, TlsOptions, is_loopback
from .worker import Worker, WorkerPool

__all__ = [
    "Ack",
    "AuthenticationError",
    "Backoff",
    "BrokerAddress",
    "ConnectError",
    "Credentials",
    "IoLoop",
    "MqttTransport",
    "TlsOptions",
    "Worker",
    "WorkerPool",
    "is_loopback",
]
