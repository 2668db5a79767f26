"""Value generators: what each simulated device sets its properties to before each report.

By default each property gets one from its declared type: numbers a seeded random walk within
their ``minimum``/``maximum`` (snapped to their ``step``), booleans flip, enums pick among their
choices, strings among a few short texts, times are now. A property with a getter reports what
the getter returns, so it is left to it (``keep``); so are objects, lists, structs and arrays.

``--value NAME=GEN`` overrides one property (``NAME`` is its wire or attribute name, or
``SERVICE.NAME`` where two services have it):

    walk:LOW:HIGH     a random walk within [LOW, HIGH] (numbers)
    uniform:LOW:HIGH  an independent uniform draw each report (numbers)
    choice:A,B,...    one of these at random each report, each read by the property's type
    const:V           always V, read by the property's type
    flip[:P]          a boolean that flips each report (with probability P, 0 < P <= 1)
    now               the current time (DateTime and timestamp properties)
    keep              never set by the simulator (the getter or the default is reported)

Every value a generator can produce is checked against the property's type when the generator
is made, so a bad ``--value`` is one error naming the argument before any device connects.
Generators are pure descriptions (:class:`Gen`); :meth:`Gen.stream` makes one device's
iterator over values from that device's own seeded ``random.Random``.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import attrs

from ..cloud.values import parse_text
from ..declare.service import PropertySpec, Service
from ..errors import InvalidValue
from ..types import Boolean, DateTime, Decimal, Enum, Integer, String, Timestamp, ValueType

DEFAULT_SPAN = 100.0
"""Width of the walk of a number declared without both bounds."""
WALK_STEPS = 20
"""A walk's typical step is its range over this."""
DEFAULT_TEXTS = ("sim-a", "sim-b", "sim-c")


class Gen(Protocol):
    """A generator of one property's values; ``stream`` is one device's sequence of them."""

    def stream(self, rng: random.Random) -> Iterator[Any] | None:
        """The device's values, or None for a property the simulator leaves alone."""
        ...

    def describe(self) -> str: ...


@attrs.frozen
class Keep:
    """The simulator never sets the property."""

    def stream(self, rng: random.Random) -> None:
        return None

    def describe(self) -> str:
        return "keep"


@attrs.frozen
class Const:
    value: Any

    def stream(self, rng: random.Random) -> Iterator[Any]:
        value = self.value
        while True:
            yield value

    def describe(self) -> str:
        return f"const:{self.value}"


@attrs.frozen
class Choice:
    choices: tuple[Any, ...]

    def stream(self, rng: random.Random) -> Iterator[Any]:
        choices = self.choices
        while True:
            yield rng.choice(choices)

    def describe(self) -> str:
        return "choice:" + ",".join(map(str, self.choices))


@attrs.frozen
class Flip:
    probability: float = 1.0

    def stream(self, rng: random.Random) -> Iterator[bool]:
        value = rng.random() < 0.5
        while True:
            yield value
            if self.probability >= 1.0 or rng.random() < self.probability:
                value = not value

    def describe(self) -> str:
        return "flip" if self.probability >= 1.0 else f"flip:{self.probability:g}"


@attrs.frozen
class Now:
    """The current UTC time: a datetime, or whole seconds for a timestamp."""

    seconds: bool = False

    def stream(self, rng: random.Random) -> Iterator[Any]:
        while True:
            yield int(time.time()) if self.seconds else _dt.datetime.now(_dt.timezone.utc)

    def describe(self) -> str:
        return "now"


@attrs.frozen
class Numbers:
    """A random walk (or, with ``walk=False``, uniform draws) within [low, high], as whole numbers
    when ``whole``, on the grid ``origin + k * step`` when ``step`` is set."""

    low: float
    high: float
    walk: bool = True
    whole: bool = False
    step: float | None = None
    origin: float = 0.0

    def stream(self, rng: random.Random) -> Iterator[float | int]:
        low, high = self.low, self.high
        sigma = (high - low) / WALK_STEPS
        value = rng.uniform(low, high)
        while True:
            yield self._shape(value)
            if self.walk:
                value += rng.gauss(0.0, sigma)
                if value > high:
                    value = max(low, 2 * high - value)
                elif value < low:
                    value = min(high, 2 * low - value)
            else:
                value = rng.uniform(low, high)

    def _shape(self, value: float) -> float | int:
        step = self.step
        if step:
            k = round((value - self.origin) / step)
            k = max(self.lowest_k(), min(self.highest_k(), k))
            shaped = self.origin + k * step
            return round(shaped) if self.whole else round(shaped, 12)
        if self.whole:
            return max(math.ceil(self.low), min(math.floor(self.high), round(value)))
        return value

    def lowest_k(self) -> int:
        assert self.step
        return math.ceil((self.low - self.origin) / self.step - 1e-9)

    def highest_k(self) -> int:
        assert self.step
        return math.floor((self.high - self.origin) / self.step + 1e-9)

    def describe(self) -> str:
        return f"{'walk' if self.walk else 'uniform'}:{self.low:g}:{self.high:g}"


# -- choosing and parsing ----------------------------------------------------------------------


def default_gen(spec: PropertySpec) -> Gen:
    """The generator a property gets unless ``--value`` names it (see the module docstring)."""
    if spec.getter is not None:
        return Keep()
    kind = spec.prop.type
    if isinstance(kind, Enum):
        return Choice(kind.choices)
    if isinstance(kind, Boolean):
        return Flip()
    if isinstance(kind, (Integer, Decimal)):
        low, high = kind.minimum, kind.maximum
        if low is None and high is None:
            low, high = 0, DEFAULT_SPAN
        elif low is None:
            assert high is not None
            low = high - DEFAULT_SPAN
        elif high is None:
            high = low + DEFAULT_SPAN
        return _numbers(kind, float(low), float(high), walk=True)
    if isinstance(kind, String):
        texts = [_fit(text, kind) for text in DEFAULT_TEXTS]
        return Choice(tuple(dict.fromkeys(texts)))
    if isinstance(kind, DateTime):
        return Now()
    if isinstance(kind, Timestamp):
        return Now(seconds=True)
    return Keep()


def _fit(text: str, kind: String) -> str:
    if kind.max_length is not None:
        text = text[: kind.max_length]
    return text.ljust(kind.min_length, "x")


def _numbers(kind: Integer | Decimal, low: float, high: float, *, walk: bool) -> Numbers:
    step = float(kind.step) if kind.step else None
    origin = float(kind.minimum) if kind.minimum is not None else 0.0
    gen = Numbers(low, high, walk=walk, whole=isinstance(kind, Integer), step=step, origin=origin)
    if step and gen.lowest_k() > gen.highest_k():
        raise InvalidValue(f"no multiple of the step {step:g} lies in [{low:g}, {high:g}]")
    if gen.whole and not step and math.ceil(low) > math.floor(high):
        raise InvalidValue(f"no whole number lies in [{low:g}, {high:g}]")
    return gen


def parse_gen(text: str, kind: ValueType) -> Gen:
    """``GEN`` of ``--value NAME=GEN`` for a property of type ``kind``; InvalidValue naming
    what is wrong (the caller adds which argument)."""
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    if name == "keep" and not rest:
        return Keep()
    if name == "const":
        return Const(_typed(rest, kind))
    if name == "choice":
        if not rest:
            raise InvalidValue("choice needs values: choice:A,B,...")
        return Choice(tuple(dict.fromkeys(_typed(part, kind) for part in rest.split(","))))
    if name == "flip":
        if not isinstance(kind, Boolean):
            raise InvalidValue(f"flip is for booleans, not {kind.describe()}")
        if not rest:
            return Flip()
        probability = _number(rest, "the probability")
        if not 0 < probability <= 1:
            raise InvalidValue(f"the probability {rest!r} must be in (0, 1]")
        return Flip(probability)
    if name == "now" and not rest:
        if isinstance(kind, DateTime):
            return Now()
        if isinstance(kind, Timestamp):
            return Now(seconds=True)
        raise InvalidValue(f"now is for DateTime and timestamp properties, not {kind.describe()}")
    if name in ("walk", "uniform"):
        if not isinstance(kind, (Integer, Decimal)):
            raise InvalidValue(f"{name} is for numbers, not {kind.describe()}")
        bounds = rest.split(":")
        if len(bounds) != 2:
            raise InvalidValue(f"{name} takes two bounds: {name}:LOW:HIGH")
        low, high = (_number(b, "a bound") for b in bounds)
        if low > high:
            raise InvalidValue(f"LOW {low:g} is above HIGH {high:g}")
        unstepped = attrs.evolve(kind, step=None)  # the walk snaps to the step; its bounds need not
        for bound in (low, high):
            _check(unstepped, int(bound) if isinstance(kind, Integer) and bound.is_integer() else bound)
        return _numbers(kind, low, high, walk=name == "walk")
    raise InvalidValue(
        f"{text!r} is not a generator (walk:LOW:HIGH, uniform:LOW:HIGH, choice:A,B, const:V, flip, now, keep)"
    )


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidValue(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidValue(f"{what} {text!r} is not a finite number")
    return value


def _typed(text: str, kind: ValueType) -> Any:
    return _check(kind, parse_text(text, kind))


def _check(kind: ValueType, value: Any) -> Any:
    kind.check(value)  # InvalidValue naming the reason: below the minimum, not one of ...
    return value


# -- one service class, one device -------------------------------------------------------------


@attrs.frozen
class ServicePlan:
    """The generators of one service class: ``(attribute, generator)`` for each property the
    simulator sets."""

    cls: type[Service]
    gens: tuple[tuple[str, Gen], ...]


def plan_values(classes: Sequence[type[Service]], overrides: Mapping[str, str]) -> list[ServicePlan]:
    """Each class's generators: the defaults, with ``overrides`` (``{NAME: GEN}`` from
    ``--value``) applied. InvalidValue ``--value NAME=GEN: reason`` for an unknown or ambiguous
    NAME or a GEN that does not fit the property."""
    chosen: list[dict[str, Gen]] = [{p.attr: default_gen(p) for p in cls.spec.properties} for cls in classes]
    for name, text in overrides.items():
        where = f"--value {name}={text}"
        index, spec = _find(classes, name, where)
        try:
            chosen[index][spec.attr] = parse_gen(text, spec.prop.type)
        except InvalidValue as exc:
            raise InvalidValue(f"{where}: {exc}") from None
    return [
        ServicePlan(cls, tuple((attr, gen) for attr, gen in gens.items() if not isinstance(gen, Keep)))
        for cls, gens in zip(classes, chosen, strict=True)
    ]


def _find(classes: Sequence[type[Service]], name: str, where: str) -> tuple[int, PropertySpec]:
    found = [(i, spec) for i, cls in enumerate(classes) if (spec := _lookup(cls, name)) is not None]
    if not found:
        service_id, dot, short = name.rpartition(".")
        if dot:
            found = [
                (i, spec)
                for i, cls in enumerate(classes)
                if cls.service_id == service_id and (spec := _lookup(cls, short)) is not None
            ]
    if not found:
        known = "; ".join(
            f"{cls.service_id}: {', '.join(p.name for p in cls.spec.properties) or '(none)'}"
            for cls in classes
        )
        raise InvalidValue(f"{where}: no property {name!r} ({known})")
    if len(found) > 1:
        ids = ", ".join(classes[i].service_id for i, _ in found)
        raise InvalidValue(f"{where}: {name!r} is in several services ({ids}): write SERVICE.{name}")
    return found[0]


def _lookup(cls: type[Service], name: str) -> PropertySpec | None:
    spec = cls.spec
    return spec.by_name.get(name) or spec.by_attr.get(name)


class DeviceValues:
    """One device's value streams, from its own seeded random generator."""

    __slots__ = ("_streams",)

    def __init__(self, plans: Sequence[ServicePlan], rng: random.Random) -> None:
        self._streams: list[tuple[tuple[str, Iterator[Any]], ...]] = []
        for plan in plans:
            streams = []
            for attr, gen in plan.gens:
                stream = gen.stream(rng)
                if stream is not None:
                    streams.append((attr, stream))
            self._streams.append(tuple(streams))

    def next(self, index: int) -> dict[str, Any]:
        """The next values of the ``index``-th service: ``{attribute: value}``."""
        return {attr: next(stream) for attr, stream in self._streams[index]}


def device_rng(seed: int, index: int) -> random.Random:
    """Device ``index``'s generator: the same for the same seed on any machine and shard."""
    return random.Random(f"thingmodel-fleet:{seed}:{index}")
