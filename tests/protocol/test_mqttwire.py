"""MQTT's remaining-length field, cut and written."""

from __future__ import annotations

import pytest

from thingmodel.protocol.mqttwire import MalformedHeader, frame, remaining_length


@pytest.mark.parametrize("length", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455])
def test_a_written_length_frames_the_body_that_follows(length: int) -> None:
    packet = b"\x30" + remaining_length(length) + b"x" * length
    start, end = frame(packet, 0)  # type: ignore[misc]
    assert (end - start, end) == (length, len(packet))


def test_a_packet_not_all_read_yet_frames_as_none() -> None:
    packet = b"\x30" + remaining_length(200) + b"x" * 200
    assert frame(packet[:-1], 0) is None and frame(packet[:2], 0) is None and frame(b"\x30", 0) is None


def test_packets_are_framed_one_after_another() -> None:
    data = b"\x40\x02\x00\x01" + b"\x40\x02\x00\x02"
    assert frame(data, 0) == (2, 4) and frame(data, 4) == (6, 8)


def test_a_length_running_to_a_fifth_byte_is_malformed() -> None:
    with pytest.raises(MalformedHeader, match="longer than 4 bytes"):
        frame(b"\x30\xff\xff\xff\xff\x01", 0)
