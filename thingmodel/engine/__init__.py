"""The device engine, vendor-free and without I/O: what a device does with what the cloud asks
(writes, reads, commands, shadow snapshots), its reports and auto-reports, and the connect ->
shadow sync -> open-the-gate sequence. A transport and a codec are put around it by
:class:`~thingmodel.device.Device` and :class:`~thingmodel.testing.FakeCloud`."""
