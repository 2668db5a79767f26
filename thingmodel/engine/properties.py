"""Property I/O: reading values through getters, and writing a request through setters, all of it
or none of it (with a rollback when a setter raises). Pure functions over services; the core
decides what to report and answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..declare.service import PropertySpec, Service
from ..declare.state import state_of
from ..errors import InvalidValue

Change = tuple[Service, PropertySpec, Any]
"""One planned write: the service, the property and the checked value (or, once applied, the old one)."""

SetterFailed = Callable[[Service, PropertySpec, str], None]
"""Told each setter failure: the service, the property and the reason."""


def read_values(
    service: Service, names: Iterable[str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``(values, errors)``: current wire values read through getters, and why each failing getter
    failed. Properties with no value yet are left out of both."""
    spec = service.spec
    if names is None:
        props: Iterable[PropertySpec] = spec.properties
    else:
        props = [spec.by_name[n] for n in names if n in spec.by_name]
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    state = state_of(service)
    stored = state.values
    with state.lock:
        for p in props:
            getter = p.getter
            if getter is not None:
                try:
                    value = p.check(getter(service))
                except InvalidValue as exc:
                    errors[p.name] = f"get_{p.attr} returned an invalid value: {exc}"
                    continue
                except Exception as exc:
                    errors[p.name] = f"get_{p.attr} raised {exc!r}"
                    continue
                stored[p.attr] = value
            else:
                # a read: the class's default serves as it is (only a write takes a copy of it)
                value = stored.get(p.attr, p.default)
            if value is None:
                continue
            values[p.name] = value if p.to_wire is None else p.to_wire(value)
    return values, errors


def plan_write(
    services: Mapping[str, Service], request: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Change], dict[str, str]]:
    """Check every value of one write request: ``(plan, errors)``. Error keys are property names,
    prefixed ``service_id.`` when the request spans services; an unknown service is keyed by its id."""
    prefix = len(request) > 1
    errors: dict[str, str] = {}
    plan: list[Change] = []
    for sid, changes in request.items():
        service = services.get(sid)
        if service is None:
            errors[sid] = f"unknown service (this device has: {', '.join(services)})"
            continue
        by_name = service.spec.by_name
        for name, raw in changes.items():
            key = f"{sid}.{name}" if prefix else name
            p = by_name.get(name)
            if p is None:
                errors[key] = f"unknown property of {sid} (known: {', '.join(by_name)})"
            elif not p.prop.writeable:
                errors[key] = "read-only property"
            else:
                try:
                    plan.append((service, p, p.prop.type.from_wire(raw)))
                except InvalidValue as exc:
                    errors[key] = str(exc)
    return plan, errors


def apply_plan(plan: list[Change], on_failure: SetterFailed) -> tuple[Service, PropertySpec, str] | None:
    """Run the setters of a checked plan under the services' locks and store the values. When a
    setter raises, the setters already called are called again with the values they replaced and
    those values restored; the failure is returned (and passed to ``on_failure``)."""
    done: list[Change] = []
    states = {}
    locks = []
    for s, _, _ in plan:  # loops, not comprehensions: this runs for every desired change
        if id(s) not in states:
            state = states[id(s)] = state_of(s)
            locks.append(state.lock)
    for lock in locks:
        lock.acquire()
    try:
        for service, p, value in plan:
            state = states[id(service)]
            old = state.get(p)  # this instance's own value (a mutable default is copied first)
            try:
                if p.setter is not None:
                    p.setter(service, value)
            except Exception as exc:
                reason = f"set_{p.attr} raised {exc!r}"
                on_failure(service, p, reason)
                _roll_back(done, on_failure)
                return service, p, reason
            state.values[p.attr] = value
            done.append((service, p, old))
        return None
    finally:
        for lock in reversed(locks):
            lock.release()


def _roll_back(done: list[Change], on_failure: SetterFailed) -> None:
    for service, p, old in reversed(done):
        try:
            if p.setter is not None and old is not None:
                p.setter(service, old)
            state_of(service).values[p.attr] = old
        except Exception as exc:
            on_failure(service, p, f"rolling back to {old!r} failed: {exc!r}; the value may be inconsistent")


def canonical(p: PropertySpec, raw: Any) -> Any:
    """A desired wire value as the device would report it (e.g. a DateTime in canonical form),
    so an equal value in another spelling is not applied again on every reconnect."""
    try:
        value = p.prop.type.from_wire(raw)
    except InvalidValue:
        return raw  # invalid: applying it will refuse it with the reason
    return value if p.to_wire is None else p.to_wire(value)
