"""thingmodel: declare a device's services once; run it against a local cloud or a vendor's.

Start with `thingmodel demo`, or `thingmodel cloud` in one terminal and `thingmodel run
MODULE:CLASS --device-id ID` in another; then `thingmodel devices`, `shadow`, `command`, `ota`
and `watch`, or the console the cloud serves. Every command has --help.

Exit codes: 0 success; 1 the operation ran but failed (a write refused, a command failed, an
unknown or offline device, a model check found problems); 2 bad usage or input; 3 no connection
(broker or cloud unreachable, credentials refused, timeout).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..brokers import BrokerError
from ..cloud.discovery import DEFAULT_HTTP_PORT
from ..errors import InvalidValue, ModelError, ThingModelError
from ..transport import ConnectError
from ..vendors import VENDORS
from .app import PAIRS_HELP, add_app_options, run_app

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535, or 0 for a free one)")
    return value


def _common(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``-v`` and ``--log-level``, accepted before and after the command."""
    default = 0 if top else argparse.SUPPRESS
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more logging: -v info, -vv debug (default: warnings)",
    )
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=None if top else argparse.SUPPRESS,
        help="logging level (default: warning; -v is info)",
    )


class _Help(argparse.HelpFormatter):
    """Each option's help ends with its default, unless the help says it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" not in text
            and action.option_strings
            and default not in (None, False, argparse.SUPPRESS)
            and action.nargs != 0
        ):
            text += f" (default: {default})"
        return text


class _HelpRaw(_Help, argparse.RawDescriptionHelpFormatter):
    """``_Help`` that keeps the description's line breaks."""


def _parser(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, formatter_class=_Help, **kwargs)
    _common(p)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thingmodel", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _common(parser, top=True)
    parser.add_argument("--version", action="version", version=f"thingmodel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _parser(sub, "demo", help="run a device against a local cloud on this machine")
    demo.add_argument("--vendor", choices=VENDORS, default="huawei", help="the protocol the demo speaks")
    demo.add_argument("--port", type=_port, help="MQTT port of the embedded broker (default: a free one)")
    demo.add_argument("--interval", type=float, default=2.0, help="auto-report period in seconds")
    demo.add_argument("--forever", action="store_true", help="keep running until Ctrl-C")
    demo.add_argument(
        "--console",
        action="store_true",
        help="serve the web console too and keep running (until Ctrl-C) so you can drive the device",
    )
    demo.add_argument(
        "--http-port",
        type=_port,
        default=None,
        help=f"port of the console with --console (default {DEFAULT_HTTP_PORT}, or a free one if taken)",
    )

    cloud = _parser(
        sub,
        "cloud",
        help="run the local cloud in the foreground",
        description="The local cloud: shadows, the device protocol on an MQTT broker, the vendor's "
        "application API, thingmodel's API and the web console over HTTP.",
    )
    cloud.add_argument("--vendor", choices=VENDORS, default="huawei", help="the vendor protocol it speaks")
    cloud.add_argument(
        "--port", type=_port, default=1883, help="MQTT port of the embedded broker (0: a free one)"
    )
    cloud.add_argument("--host", default="127.0.0.1", help="address of the embedded broker")
    cloud.add_argument(
        "--broker", help="use this broker instead of the embedded one (mqtt://host:port; default: embedded)"
    )
    cloud.add_argument("--store", help="SQLite file keeping the shadows (default: memory only)")
    cloud.add_argument(
        "--http-port",
        type=_port,
        default=DEFAULT_HTTP_PORT,
        help="port of the HTTP side on 127.0.0.1: the vendor's application API, thingmodel's API and "
        "the web console (0: a free one)",
    )
    cloud.add_argument(
        "--app-key",
        metavar="ID:SECRET",
        default=os.environ.get("THINGMODEL_APP_KEY"),
        help="require every HTTP request to be signed with this key, as the vendor signs them "
        "(SigV4, IoTDA AK/SK, TC3); default: $THINGMODEL_APP_KEY, or none (unauthenticated, loopback only)",
    )
    cloud.add_argument(
        "--model",
        metavar="FILE",
        help="a product model (Huawei or Tencent): the console's forms and KEY=VALUE input follow its "
        "types (default: types from the values seen)",
    )
    cloud.add_argument(
        "--registry",
        metavar="FILE",
        help="device registry (see `thingmodel registry`): only its devices connect, each checked as "
        "its vendor checks it and kept to its own topics (default: none, every client is accepted)",
    )
    cloud.add_argument(
        "--tls-dir",
        metavar="DIR",
        help="serve MQTT over TLS with a local CA kept in DIR (made on first use); aws things then sign "
        "in with certificates from `thingmodel registry add --make-cert DIR` (aws with --registry needs it)",
    )
    cloud.add_argument(
        "--provisioning",
        metavar="FILE",
        help="serve device provisioning as the vendor does (Huawei bootstrap, AWS fleet provisioning by "
        "claim with --tls-dir's CA, Tencent dynamic registration), configured by this JSON file",
    )

    devices = _parser(sub, "devices", help="list the devices of the running local cloud")
    add_app_options(devices, wait=False)

    shadow = _parser(sub, "shadow", help="read, write or delete a device's shadow on the running local cloud")
    shadow_sub = shadow.add_subparsers(dest="shadow_command", required=True, metavar="ACTION")
    get = _parser(
        shadow_sub, "get", help="show the shadow: per service, property | reported | desired | delta"
    )
    get.add_argument("device_id", help="the device")
    add_app_options(get, wait=False)
    desire = _parser(
        shadow_sub,
        "desire",
        help="desire property values and wait for the device's answer",
        description=PAIRS_HELP,
    )
    desire.add_argument("device_id", help="the device")
    desire.add_argument("service_id", help="the service")
    desire.add_argument("values", nargs="+", metavar="KEY=VALUE", help="the values (see above)")
    add_app_options(desire)
    delete = _parser(shadow_sub, "delete", help="delete the shadow (of one service, or all)")
    delete.add_argument("device_id", help="the device")
    delete.add_argument(
        "service_id", nargs="?", default=None, help="only this service's shadow (default: all)"
    )
    add_app_options(delete, wait=False)

    cmd = _parser(
        sub, "command", help="send a command to a device and print its answer", description=PAIRS_HELP
    )
    cmd.add_argument("device_id", help="the device")
    cmd.add_argument("service_id", help="the service holding the command")
    cmd.add_argument("name", help="the command")
    cmd.add_argument("params", nargs="*", metavar="KEY=VALUE", help="its parameters (see above)")
    add_app_options(cmd)

    ota = _parser(
        sub,
        "ota",
        help="upgrade a device: upload a package to the running local cloud and follow the upgrade",
        description="Upload FILE to the running local cloud, which offers it to DEVICE (Huawei $ota, "
        "Tencent $ota, an AWS IoT job) and serves it over HTTP; print the device's progress as it comes. "
        "Exit 0 when the device reports success with the new version, 1 when it fails (its reason is "
        "printed) or does not finish in time.",
    )
    ota.add_argument("device_id", metavar="DEVICE", help="the device")
    ota.add_argument("file", metavar="FILE", help="the package file")
    ota.add_argument(
        "--version",
        dest="package_version",
        required=True,
        metavar="V",
        help="the version FILE installs (required)",
    )
    ota.add_argument(
        "--kind", choices=["firmware", "software"], default="firmware", help="what the package upgrades"
    )
    add_app_options(ota, wait=False)
    ota.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the upgrade to end")

    watch = _parser(sub, "watch", help="print the messages between the cloud and its devices as they pass")
    watch.add_argument("device_id", nargs="?", default=None, help="only this device (default: every device)")
    add_app_options(watch, wait=False)

    run = _parser(
        sub,
        "run",
        help="run your service classes as a device",
        description="Run services (path/to/module.py:Class or package.module:Class) "
        "as a device. Flags fall back to THINGMODEL_* environment variables.",
    )
    run.add_argument("targets", nargs="+", metavar="MODULE:CLASS", help="the Service classes to run")
    run.add_argument(
        "--vendor",
        choices=VENDORS,
        default=os.environ.get("THINGMODEL_VENDOR"),
        help="the protocol (default: $THINGMODEL_VENDOR, else the running local cloud's, else huawei)",
    )
    run.add_argument(
        "--device-id", default=os.environ.get("THINGMODEL_DEVICE_ID"), help="default: $THINGMODEL_DEVICE_ID"
    )
    run.add_argument(
        "--broker",
        default=os.environ.get("THINGMODEL_BROKER"),
        help="the MQTT broker (default: $THINGMODEL_BROKER, else the running local cloud's, else "
        "mqtt://127.0.0.1:1883)",
    )
    run.add_argument(
        "--huawei-host",
        default=os.environ.get("THINGMODEL_HUAWEI_HOST"),
        help="IoTDA access address; the secret comes from THINGMODEL_SECRET",
    )
    run.add_argument(
        "--ca-file",
        default=os.environ.get("THINGMODEL_CA_FILE"),
        help="a PEM CA file to verify the broker with",
    )
    run.add_argument("--auto-report", type=float, default=5.0, help="report every this many seconds (0: off)")

    from . import simulate as fleet_command

    simulate = _parser(
        sub,
        "simulate",
        help="simulate a fleet of devices running your services, and measure it",
        description=fleet_command.DESCRIPTION,
    )
    simulate.formatter_class = _HelpRaw
    fleet_command.add_options(simulate)

    registry = _parser(
        sub,
        "registry",
        help="manage a device registry for `thingmodel cloud --registry`",
        description="A JSON file of the devices the local cloud accepts and their credentials "
        "(written with mode 0600).",
    )
    registry_sub = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")

    def file_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--file", required=True, metavar="FILE", help="the registry file (required)")

    device_help = "the device id (Tencent: ProductId.DeviceName; AWS: the thing name)"
    add = _parser(registry_sub, "add", help="register a device (creating the file when missing)")
    add.add_argument("device_id", help=device_help)
    file_option(add)
    add.add_argument(
        "--vendor",
        choices=VENDORS,
        help="vendor of a new file (default: huawei; an existing file keeps its own)",
    )
    add.add_argument(
        "--secret",
        help="the device's secret (default: a new random one, printed once; not for aws)",
    )
    add.add_argument(
        "--cert",
        metavar="PEM",
        help="aws: the thing's certificate, registered by its SHA-256 (default: none; aws needs it)",
    )
    add.add_argument(
        "--make-cert",
        metavar="DIR",
        help="aws: make the thing's certificate and key in DIR, signed by the local CA there "
        "(the one `thingmodel cloud --tls-dir DIR` serves with), and register it",
    )
    add.add_argument(
        "--acts-for",
        metavar="THING",
        action="append",
        default=[],
        help="aws: another thing this one's connection may act for, as a gateway for its child "
        "(repeat for each; the AWS policy would grant the same topics)",
    )
    remove = _parser(registry_sub, "remove", help="unregister a device")
    remove.add_argument("device_id", help=device_help)
    file_option(remove)
    listing = _parser(registry_sub, "list", help="list the registered devices")
    file_option(listing)
    listing.add_argument(
        "--show-secrets", action="store_true", help="print each device's secret too (default: hidden)"
    )

    model = _parser(sub, "model", help="inspect product-model files")
    model_sub = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    show = _parser(model_sub, "show", help="show a product model as tables")
    show.add_argument("path", help="the model file or folder (Huawei zip/JSON, Tencent data template)")
    check = _parser(model_sub, "check", help="check service classes against a product model")
    check.add_argument("path", help="the model file or folder")
    check.add_argument("targets", nargs="+", metavar="MODULE:CLASS", help="the Service classes to check")
    return parser


def load_target(target: str) -> Any:
    """``path/to/file.py:Class`` or ``package.module:Class``; InvalidValue naming what went wrong."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise InvalidValue(f"{target!r} is not MODULE:CLASS")
    try:
        if module_name.endswith(".py") or os.sep in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise InvalidValue(f"{path} does not exist")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None:
                raise InvalidValue(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except InvalidValue:
        raise
    except SyntaxError as exc:
        raise InvalidValue(
            f"cannot import {module_name}: {exc.msg} ({exc.filename}, line {exc.lineno})"
        ) from None
    except Exception as exc:  # the user's module raised while importing: say what, not a traceback
        raise InvalidValue(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InvalidValue(f"{module_name} has no {attr!r}") from None


def _log_level(args: argparse.Namespace) -> int:
    named = getattr(args, "log_level", None)
    if named:
        return int(getattr(logging, named.upper()))
    return [logging.WARNING, logging.INFO, logging.DEBUG][min(getattr(args, "verbose", 0), 2)]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = _log_level(args)
    args.verbose = {logging.DEBUG: 2, logging.INFO: 1}.get(level, 0)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return EXIT_OK
    except (ConnectError, TimeoutError) as exc:
        print(f"thingmodel: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (InvalidValue, ModelError, BrokerError, ValueError) as exc:
        print(f"thingmodel: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a file the user named (a --store, say) that cannot be opened
        print(f"thingmodel: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ThingModelError as exc:
        print(f"thingmodel: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from ..demo import run_demo

        if not args.verbose:  # the demo narrates refusals itself
            logging.getLogger("thingmodel").setLevel(logging.ERROR)
        return run_demo(
            vendor=args.vendor,
            port=args.port,
            forever=args.forever or args.console,
            interval=args.interval,
            console_port=(args.http_port if args.http_port is not None else -1) if args.console else None,
        )
    if args.command == "cloud":
        return _cloud(args)
    if args.command in ("shadow", "command", "devices", "watch", "ota"):
        return run_app(args)
    if args.command == "run":
        return _run(args)
    if args.command == "simulate":
        from .simulate import run as simulate

        return simulate(args, load_target)
    if args.command == "registry":
        return _registry(args)
    return _model(args)


def _cloud(args: argparse.Namespace) -> int:
    from ..cloud import LocalCloud, discovery

    options: dict[str, Any] = {}
    if args.registry:  # read before anything starts: a broken file stops here
        from ..cloud.access import check_registry_vendor
        from ..cloud.registry import Registry

        registry = Registry.load(args.registry)
        check_registry_vendor(registry, args.vendor)
        options["registry"] = registry
    if args.model:
        from ..model.product import ProductModel

        options["model"] = ProductModel.load(args.model)
    if args.app_key:
        from ..cloud.http import AppKey

        options["app_key"] = AppKey.parse(args.app_key)
    if args.tls_dir:
        if args.broker:
            raise InvalidValue("--tls-dir is for the embedded broker; with --broker, that broker serves TLS")
        from ..brokers import ServerTls
        from ..cloud.certificates import local_pki
        from ..transport import TlsOptions

        pki = local_pki(args.tls_dir, hosts=dict.fromkeys([args.host, "localhost"]))
        client_ca = str(pki.ca[0]) if args.vendor == "aws" else None
        options["listener_tls"] = ServerTls(*pki.server, cafile=client_ca)
        options["tls"] = TlsOptions(str(pki.ca[0]), str(pki.cloud_client[0]), str(pki.cloud_client[1]))
    elif args.vendor == "aws" and args.registry and not args.broker:
        raise InvalidValue("aws things sign in by certificate, over TLS: give --tls-dir DIR too")
    if args.provisioning:  # read before anything starts: a broken file stops here
        from ..cloud.certificates import local_pki as pki_in
        from ..cloud.provisioning import ProvisioningService

        ca = pki_in(args.tls_dir).ca if args.tls_dir else None
        options["provisioning"] = ProvisioningService.load(args.provisioning, ca=ca)
    cloud = LocalCloud(
        vendor=args.vendor,
        broker=args.broker,
        host=args.host,
        port=args.port,
        store=args.store,
        http_port=args.http_port,
        **options,
    )
    cloud.start()
    http = cloud.http_url
    assert http is not None
    auth = (
        f"requests must be signed with app key {options['app_key'].id}"
        if "app_key" in options
        else "unauthenticated, loopback only"
    )
    print(
        f"thingmodel cloud ({args.vendor}) serving on {cloud.url}"
        f"{' with the embedded broker' if cloud.embedded else ''}; "
        f"shadows in {args.store or 'memory'}; {cloud.mode}. Ctrl-C to stop.\n"
        f"  console:           {http}/\n"
        f"  {_API_NAMES[args.vendor] + ':':<18} {http}  ({auth})\n"
        f"  thingmodel API:    {http}/thingmodel/v1",
        flush=True,
    )
    if cloud.provisioning is not None:
        print(f"  provisioning:      {cloud.provisioning.describe()}", flush=True)
    discovery.record(vendor=args.vendor, mqtt_url=cloud.url, http_url=http)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        discovery.forget()
        cloud.stop()
    return EXIT_OK


_API_NAMES = {
    "aws": "AWS IoT data API",
    "huawei": "IoTDA API",
    "tencent-hub": "IoT Hub API",
    "tencent-explorer": "IoT Explorer API",
}


def _check_ca_file(path: str) -> None:
    """InvalidValue unless ``path`` is a readable PEM file (one line, before any connection)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise InvalidValue(f"CA file {path}: {exc.strerror}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise InvalidValue(f"CA file {path} is not PEM (no BEGIN CERTIFICATE line)")


def _run(args: argparse.Namespace) -> int:
    from ..cloud import discovery
    from ..declare.service import Service
    from ..device import Device
    from ..transport import TlsOptions

    services = []
    for target in args.targets:
        cls = load_target(target)
        if not (isinstance(cls, type) and issubclass(cls, Service)):
            raise InvalidValue(f"{target} is not a Service subclass")
        services.append(cls())
    if not args.device_id:
        raise InvalidValue("give --device-id (or THINGMODEL_DEVICE_ID)")
    if args.ca_file:
        _check_ca_file(args.ca_file)
    local = discovery.find() if not args.huawei_host else None
    broker = args.broker or (local["mqtt_url"] if local else "mqtt://127.0.0.1:1883")
    vendor = args.vendor or (local["vendor"] if local else "huawei")
    if local is not None and local["mqtt_url"] == broker and local["vendor"] != vendor:
        raise InvalidValue(
            f"the local cloud on {broker} speaks {local['vendor']}, not {vendor}: "
            f"run with --vendor {local['vendor']}, or start the cloud with --vendor {vendor}"
        )
    if args.huawei_host:
        secret = os.environ.get("THINGMODEL_SECRET")
        if not secret:
            raise InvalidValue("THINGMODEL_SECRET must hold the device secret for --huawei-host")
        device = Device.for_huawei(
            device_id=args.device_id,
            secret=secret,
            host=args.huawei_host,
            services=services,
            ca_file=args.ca_file,
        )
    else:
        tls = TlsOptions(ca_file=args.ca_file) if args.ca_file else None
        device = Device(
            services,
            device_id=args.device_id,
            vendor=vendor,
            broker=broker,
            username=os.environ.get("THINGMODEL_USERNAME"),
            password=os.environ.get("THINGMODEL_PASSWORD"),
            tls=tls,
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with device:
        if args.auto_report > 0:
            for service in services:
                service.enable_auto_report(args.auto_report)
        print(
            f"device {args.device_id} connected ({', '.join(s.service_id for s in services)}) "
            f"to {broker} as {vendor}; Ctrl-C to stop.",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return EXIT_OK


def _registry(args: argparse.Namespace) -> int:
    from ..cloud.access import check_registry_vendor
    from ..cloud.certificates import certificate_fingerprint
    from ..cloud.registry import Registry

    path = Path(args.file)
    if args.registry_command != "add" or path.exists():
        registry = Registry.load(path)
    else:
        registry = Registry.new(path, args.vendor or "huawei")
    if args.registry_command == "list":
        count = len(registry)
        print(f"{path}: {count} {registry.vendor} device{'' if count == 1 else 's'}")
        for device_id in registry.devices():
            credential = registry.get(device_id)
            assert credential is not None
            if credential.cert_sha256 is not None:
                acting = f"\tacts_for={','.join(credential.acts_for)}" if credential.acts_for else ""
                print(f"{device_id}\tcert_sha256={credential.cert_sha256}{acting}")
            else:
                print(f"{device_id}\tsecret={credential.secret if args.show_secrets else '(hidden)'}")
        return EXIT_OK
    if args.registry_command == "remove":
        if not registry.remove(args.device_id):
            print(f"thingmodel: device {args.device_id!r} is not in {path}", file=sys.stderr)
            return EXIT_FAILED
        registry.save()
        print(f"removed {args.device_id} from {path}")
        return EXIT_OK
    if args.vendor:
        check_registry_vendor(registry, args.vendor)
    if args.device_id in registry:
        print(f"thingmodel: device {args.device_id!r} is already in {path}; remove it first", file=sys.stderr)
        return EXIT_FAILED
    acts_for = registry.check_acts_for(args.device_id, args.acts_for)  # before a certificate is made
    made = None
    if args.make_cert:
        if registry.rules.credential != "cert_sha256" or args.cert:
            raise InvalidValue("--make-cert is for aws things, instead of --cert")
        from ..cloud.certificates import local_pki, make_device_certificate

        made = make_device_certificate(args.make_cert, local_pki(args.make_cert).ca, args.device_id)
        args.cert = str(made[0])
    if registry.rules.credential == "cert_sha256" and not args.cert:
        raise InvalidValue(
            f"{registry.vendor} things are registered by their certificate: "
            "give --cert PEM or --make-cert DIR"
        )
    fingerprint = certificate_fingerprint(args.cert) if args.cert else None
    value = registry.add(args.device_id, args.secret, cert_sha256=fingerprint, acts_for=acts_for)
    registry.save()
    print(f"added {registry.vendor} device {args.device_id} to {path}")
    if acts_for:
        print(f"acts for: {', '.join(acts_for)}")
    if made is not None:
        print(f"certificate: {made[0]}\nkey: {made[1]}  (mode 0600; give both to the thing)")
    if fingerprint is not None:
        print(f"cert_sha256: {value}")
    elif args.secret is None:
        print(f"secret: {value}  (shown only now; give it to the device)")
    return EXIT_OK


def _model(args: argparse.Namespace) -> int:
    from ..model.product import ProductModel

    model = ProductModel.load(args.path)
    if args.model_command == "show":
        from .output import model_view

        print(model_view(model))
        return EXIT_OK
    failed = False
    for target in args.targets:
        problems = model.check(load_target(target))
        for problem in problems:
            print(f"{target}: {problem.id} {problem.message}\n    hint: {problem.hint}")
        if not problems:
            print(f"{target}: OK")
        failed = failed or bool(problems)
    return EXIT_FAILED if failed else EXIT_OK
