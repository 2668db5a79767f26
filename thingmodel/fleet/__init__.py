"""Fleets: many simulated devices of the same services against one cloud (``thingmodel simulate``).

Modules::

    simulate.py  the run: connect the shard's devices, report on a schedule, drain, check, summarise
    values.py    what each device sets its properties to: generators by type, ``--value NAME=GEN``
    shard.py     ``--shard i/n``, ``--devices N`` and the ids ``{prefix}{index}``
    stats.py     reports sent and arrived, matched; latency histogram and window
    report.py    the progress line, the summary and the exit code's verdict
    clouds.py    the cloud side: the simulator's own LocalCloud, or a running one (``--cloud``)
    probe.py     the subscriber that sees reports arrive on a running cloud's broker

The command line (options, printing, the exit code) is :mod:`thingmodel.cli.simulate`.
"""

from .report import RunNumbers, summary_text, verdict
from .shard import Shard, device_ids, parse_shard
from .simulate import FleetPlan, Simulation

__all__ = [
    "FleetPlan",
    "RunNumbers",
    "Shard",
    "Simulation",
    "device_ids",
    "parse_shard",
    "summary_text",
    "verdict",
]
