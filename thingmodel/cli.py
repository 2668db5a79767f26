"""The ``thingmodel`` command.

Exit codes: 0 success; 1 the operation ran but failed (a write refused, a command failed, a model
check found problems); 2 bad usage or input; 3 no connection (broker or cloud unreachable,
credentials refused, timeout).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .brokers import BrokerError
from .errors import CodecError, InvalidValue, ModelError, ThingModelError
from .transport import ConnectError
from .vendors import VENDORS

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535, or 0 for a free one)")
    return value


def _pairs(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` arguments; values are parsed as JSON when they can be (1, true, "x", [1])."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidValue(f"{item!r} is not key=value")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thingmodel", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"thingmodel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run a device against a local cloud on this machine")
    demo.add_argument("--vendor", choices=VENDORS, default="huawei")
    demo.add_argument("--port", type=_port, help="broker port (default: a free one)")
    demo.add_argument("--interval", type=float, default=2.0, help="auto-report period in seconds")
    demo.add_argument("--forever", action="store_true", help="keep running until Ctrl-C")

    cloud = sub.add_parser("cloud", help="run the local cloud in the foreground")
    cloud.add_argument("--vendor", choices=VENDORS, default="huawei")
    cloud.add_argument(
        "--port", type=_port, default=1883, help="port of the embedded broker (default 1883; 0: a free one)"
    )
    cloud.add_argument("--host", default="127.0.0.1", help="address of the embedded broker")
    cloud.add_argument("--broker", help="use this broker instead of the embedded one (mqtt://host:port)")
    cloud.add_argument("--store", help="SQLite file keeping the shadows (default: memory only)")
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

    def app_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--broker",
            default=os.environ.get("THINGMODEL_BROKER", "mqtt://127.0.0.1:1883"),
            help="the local cloud's broker (env THINGMODEL_BROKER; default mqtt://127.0.0.1:1883)",
        )
        p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the device")
        p.add_argument(
            "--registry",
            metavar="FILE",
            default=os.environ.get("THINGMODEL_REGISTRY"),
            help="the registry the cloud runs with, for its cloud_secret (env THINGMODEL_REGISTRY)",
        )

    shadow = sub.add_parser("shadow", help="read or write a device's shadow on a running local cloud")
    shadow_sub = shadow.add_subparsers(dest="shadow_command", required=True, metavar="ACTION")
    get = shadow_sub.add_parser("get", help="print the shadow as JSON")
    get.add_argument("device_id")
    app_options(get)
    desire = shadow_sub.add_parser("desire", help="desire property values (key=value ...)")
    desire.add_argument("device_id")
    desire.add_argument("service_id")
    desire.add_argument("values", nargs="+", metavar="KEY=VALUE")
    app_options(desire)

    cmd = sub.add_parser("command", help="send a command to a device through a running local cloud")
    cmd.add_argument("device_id")
    cmd.add_argument("service_id")
    cmd.add_argument("name")
    cmd.add_argument("params", nargs="*", metavar="KEY=VALUE")
    app_options(cmd)

    run = sub.add_parser(
        "run",
        help="run your service classes as a device",
        description="Run services (path/to/module.py:Class or package.module:Class) "
        "as a device. Flags fall back to THINGMODEL_* environment variables.",
    )
    run.add_argument("targets", nargs="+", metavar="MODULE:CLASS")
    run.add_argument("--vendor", choices=VENDORS, default=os.environ.get("THINGMODEL_VENDOR", "huawei"))
    run.add_argument("--device-id", default=os.environ.get("THINGMODEL_DEVICE_ID"))
    run.add_argument("--broker", default=os.environ.get("THINGMODEL_BROKER", "mqtt://127.0.0.1:1883"))
    run.add_argument(
        "--huawei-host",
        default=os.environ.get("THINGMODEL_HUAWEI_HOST"),
        help="IoTDA access address; the secret comes from THINGMODEL_SECRET",
    )
    run.add_argument("--ca-file", default=os.environ.get("THINGMODEL_CA_FILE"))
    run.add_argument("--auto-report", type=float, default=5.0, help="seconds (0: off)")

    registry = sub.add_parser(
        "registry",
        help="manage a device registry for `thingmodel cloud --registry`",
        description="A JSON file of the devices the local cloud accepts and their credentials "
        "(written with mode 0600).",
    )
    registry_sub = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")

    def file_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--file", required=True, metavar="FILE", help="the registry file (required)")

    device_help = "the device id (Tencent: ProductId.DeviceName; AWS: the thing name)"
    add = registry_sub.add_parser("add", help="register a device (creating the file when missing)")
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
    remove = registry_sub.add_parser("remove", help="unregister a device")
    remove.add_argument("device_id", help=device_help)
    file_option(remove)
    listing = registry_sub.add_parser("list", help="list the registered devices")
    file_option(listing)
    listing.add_argument(
        "--show-secrets", action="store_true", help="print each device's secret too (default: hidden)"
    )

    model = sub.add_parser("model", help="inspect product-model files")
    model_sub = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    show = model_sub.add_parser("show", help="describe a product model")
    show.add_argument("path")
    check = model_sub.add_parser("check", help="check service classes against a product model")
    check.add_argument("path")
    check.add_argument("targets", nargs="+", metavar="MODULE:CLASS")
    return parser


def load_target(target: str) -> Any:
    """``path/to/file.py:Class`` or ``package.module:Class``."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise InvalidValue(f"{target!r} is not MODULE:CLASS")
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
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InvalidValue(f"{module_name} has no {attr!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(args)
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
        from .demo import run_demo

        if not args.verbose:  # the demo narrates refusals itself
            logging.getLogger("thingmodel").setLevel(logging.ERROR)
        return run_demo(vendor=args.vendor, port=args.port, forever=args.forever, interval=args.interval)
    if args.command == "cloud":
        return _cloud(args)
    if args.command in ("shadow", "command"):
        if not args.verbose:  # a refused or unreachable cloud is the one line main() prints
            logging.getLogger("thingmodel.transport").setLevel(logging.CRITICAL)
        return _app(args)
    if args.command == "run":
        return _run(args)
    if args.command == "registry":
        return _registry(args)
    return _model(args)


def _cloud(args: argparse.Namespace) -> int:
    from .cloud import LocalCloud

    options: dict[str, Any] = {}
    if args.registry:  # read before anything starts: a broken file stops here
        from .cloud.access import check_registry_vendor
        from .cloud.registry import Registry

        registry = Registry.load(args.registry)
        check_registry_vendor(registry, args.vendor)
        options["registry"] = registry
    if args.tls_dir:
        if args.broker:
            raise InvalidValue("--tls-dir is for the embedded broker; with --broker, that broker serves TLS")
        from .brokers import ServerTls
        from .cloud.certificates import local_pki
        from .transport import TlsOptions

        pki = local_pki(args.tls_dir, hosts=dict.fromkeys([args.host, "localhost"]))
        client_ca = str(pki.ca[0]) if args.vendor == "aws" else None
        options["listener_tls"] = ServerTls(*pki.server, cafile=client_ca)
        options["tls"] = TlsOptions(str(pki.ca[0]), str(pki.cloud_client[0]), str(pki.cloud_client[1]))
    elif args.vendor == "aws" and args.registry and not args.broker:
        raise InvalidValue("aws things sign in by certificate, over TLS: give --tls-dir DIR too")
    cloud = LocalCloud(
        vendor=args.vendor, broker=args.broker, host=args.host, port=args.port, store=args.store, **options
    )
    cloud.start()
    print(
        f"thingmodel cloud ({args.vendor}) serving on {cloud.url}"
        f"{' with the embedded broker' if cloud.embedded else ''}; "
        f"shadows in {args.store or 'memory'}; {cloud.mode}. Ctrl-C to stop.",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        cloud.stop()
    return EXIT_OK


def _app(args: argparse.Namespace) -> int:
    from .cloud.client import CloudClient

    password = None
    if args.registry:
        from .cloud.registry import Registry

        password = Registry.load(args.registry).cloud_secret
    with CloudClient(args.broker, username="thingmodel-app", password=password) as client:
        try:
            if args.command == "command":
                result = client.call(
                    "send_command",
                    args.timeout,
                    device_id=args.device_id,
                    service_id=args.service_id,
                    name=args.name,
                    params=_pairs(args.params),
                )
                print(json.dumps(result, indent=2, ensure_ascii=False))
                return EXIT_OK if result.get("code") == 0 and not result.get("timed_out") else EXIT_FAILED
            if args.shadow_command == "get":
                print(
                    json.dumps(
                        client.call("get_shadow", args.timeout, device_id=args.device_id),
                        indent=2,
                        ensure_ascii=False,
                    )
                )
                return EXIT_OK
            result = client.call(
                "set_desired",
                args.timeout,
                device_id=args.device_id,
                service_id=args.service_id,
                properties=_pairs(args.values),
            )
            print(json.dumps(result, indent=2, ensure_ascii=False))
            return EXIT_OK if result.get("ok") else EXIT_FAILED
        except CodecError as exc:
            print(f"thingmodel: the cloud refused: {exc}", file=sys.stderr)
            return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from .declare.service import Service
    from .device import Device
    from .transport import TlsOptions

    services = []
    for target in args.targets:
        cls = load_target(target)
        if not (isinstance(cls, type) and issubclass(cls, Service)):
            raise InvalidValue(f"{target} is not a Service subclass")
        services.append(cls())
    if not args.device_id:
        raise InvalidValue("give --device-id (or THINGMODEL_DEVICE_ID)")
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
            vendor=args.vendor,
            broker=args.broker,
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
            f"device {args.device_id} connected ({', '.join(s.service_id for s in services)}); "
            "Ctrl-C to stop.",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return EXIT_OK


def _registry(args: argparse.Namespace) -> int:
    from .cloud.access import check_registry_vendor
    from .cloud.certificates import certificate_fingerprint
    from .cloud.registry import Registry

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
                print(f"{device_id}\tcert_sha256={credential.cert_sha256}")
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
    made = None
    if args.make_cert:
        if registry.rules.credential != "cert_sha256" or args.cert:
            raise InvalidValue("--make-cert is for aws things, instead of --cert")
        from .cloud.certificates import local_pki, make_device_certificate

        made = make_device_certificate(args.make_cert, local_pki(args.make_cert).ca, args.device_id)
        args.cert = str(made[0])
    if registry.rules.credential == "cert_sha256" and not args.cert:
        raise InvalidValue(
            f"{registry.vendor} things are registered by their certificate: "
            "give --cert PEM or --make-cert DIR"
        )
    fingerprint = certificate_fingerprint(args.cert) if args.cert else None
    value = registry.add(args.device_id, args.secret, cert_sha256=fingerprint)
    registry.save()
    print(f"added {registry.vendor} device {args.device_id} to {path}")
    if made is not None:
        print(f"certificate: {made[0]}\nkey: {made[1]}  (mode 0600; give both to the thing)")
    if fingerprint is not None:
        print(f"cert_sha256: {value}")
    elif args.secret is None:
        print(f"secret: {value}  (shown only now; give it to the device)")
    return EXIT_OK


def _model(args: argparse.Namespace) -> int:
    from .model.product import ProductModel

    model = ProductModel.load(args.path)
    if args.model_command == "show":
        print(model.describe())
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


if __name__ == "__main__":
    sys.exit(main())
