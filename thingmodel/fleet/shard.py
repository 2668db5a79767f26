"""Which devices of a fleet this process runs, and their ids.

A fleet of ``N`` devices has the ids ``{prefix}0`` .. ``{prefix}N-1``. ``--shard i/n`` runs the
devices whose index modulo ``n`` is ``i``, so ``n`` processes (on one machine or several), each
given the same ``--devices N`` and its own ``i``, run the whole fleet once between them.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ..errors import InvalidValue
from ..ids import validate_id


@attrs.frozen
class Shard:
    """Shard ``index`` of ``count`` (numbered from 0)."""

    index: int = 0
    count: int = 1

    def indices(self, devices: int) -> range:
        """The fleet indices of this shard's devices."""
        return range(self.index, devices, self.count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``i/n`` with ``0 <= i < n``; InvalidValue naming ``--shard`` otherwise."""
    index, sep, count = text.partition("/")
    try:
        if not sep:
            raise ValueError
        shard = Shard(int(index), int(count))
    except ValueError:
        raise InvalidValue(f"--shard {text}: expected i/n, like 0/4 (shard i of n, from 0)") from None
    if shard.count < 1:
        raise InvalidValue(f"--shard {text}: n must be at least 1")
    if not 0 <= shard.index < shard.count:
        raise InvalidValue(f"--shard {text}: i must be 0..{shard.count - 1} (shards are numbered from 0)")
    return shard


def parse_devices(text: str) -> int:
    """``--devices N``: a whole number of at least 1."""
    try:
        count = int(text)
    except ValueError:
        raise InvalidValue(f"--devices {text}: not a whole number") from None
    if count < 1:
        raise InvalidValue(f"--devices {text}: must be at least 1")
    return count


def device_ids(prefix: str, devices: int, shard: Shard = Shard()) -> list[tuple[int, str]]:
    """``(fleet index, id)`` of this shard's devices; InvalidValue when the ids could not be
    topic levels (a slash or wildcard in ``prefix``, too long). Only digits differ between the
    ids, so checking the longest checks them all."""
    indices = shard.indices(devices)
    if not indices:
        raise InvalidValue(f"--shard {shard} of --devices {devices} holds no device")
    try:
        validate_id("device id", f"{prefix}{devices - 1}")
    except InvalidValue as exc:
        raise InvalidValue(f"--prefix {prefix!r}: {exc}") from None
    return [(i, f"{prefix}{i}") for i in indices]


def check_vendor_ids(vendor: str, device_id: str, service_ids: Sequence[str]) -> None:
    """InvalidValue when ``vendor`` cannot take ``device_id`` (Tencent's ids are
    ``ProductId.DeviceName``) or these services (Tencent Explorer: one)."""
    from ..vendors import device_codec

    try:
        device_codec(vendor, device_id=device_id, service_ids=list(service_ids))
    except InvalidValue as exc:
        hint = (
            " (give --prefix PRODUCTID.sim-)" if vendor.startswith("tencent") and "." not in device_id else ""
        )
        raise InvalidValue(f"{vendor} device {device_id!r}: {exc}{hint}") from None
