"""MQTT brokers on this machine: the embedded default and a mosquitto runner.

We never write a broker. :class:`EmbeddedBroker` runs amqtt (pure Python, installed with the
``local`` extra) inside this process on a daemon thread, changed to behave like the vendors'
brokers and with policy hooks (:class:`BrokerPolicy`); :class:`Mosquitto` starts the mosquitto
binary with a configuration that does not lose data (no queue limit for QoS 1, TCP_NODELAY on).
Anything else is reached by URL (``mqtt://host:port``, ``mqtts://...``).

    embedded.py   EmbeddedBroker, and which MQTT versions each broker serves
    amqtt_broker.py  what is changed in amqtt, and why (imported when the broker starts)
    handshake.py  the CONNECT of MQTT 3.1 and 3.1.1, sans-IO
    policy.py     ClientInfo, BrokerPolicy, OpenPolicy
    tls.py        ServerTls: the embedded broker's TLS listener, client certificates included
    mosquitto.py  Mosquitto
    ports.py      free_port, check_port_free, wait_listening
    ratelimit.py  RateLimitedLog: log lines that come in bursts
"""

from __future__ import annotations

from ..errors import BrokerError as BrokerError  # raised here; defined with the others
from .embedded import EmbeddedBroker
from .mosquitto import MOSQUITTO_CONFIG, Mosquitto
from .policy import BrokerPolicy, ClientInfo, OpenPolicy
from .ports import check_port_free, free_port, wait_listening
from .tls import ServerTls

__all__ = [
    "MOSQUITTO_CONFIG",
    "BrokerError",
    "BrokerPolicy",
    "ClientInfo",
    "EmbeddedBroker",
    "Mosquitto",
    "OpenPolicy",
    "ServerTls",
    "check_port_free",
    "free_port",
    "wait_listening",
]
