"""``Ota``: how a device reads its version and installs a package, declared once.

    class Firmware(Ota):
        def version(self) -> str:
            return read_version_file()

        def install(self, package: Package) -> None:
            flash(package.path)          # raise to fail: the old version is kept and reported

    device = Device([...], device_id="...", ota=Firmware())

The framework does the rest on every vendor (:mod:`thingmodel.engine.ota`): it answers version
queries, receives the cloud's offer, downloads the package over HTTP(S) (resuming after a drop),
checks its size and hash, calls :meth:`Ota.install` on the device's worker, and reports progress
and the outcome. One upgrade runs at a time; an offer while one runs is refused as busy.
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from typing import ClassVar

import attrs

from ..errors import DefinitionError
from ..protocol.messages import UpgradeKind

__all__ = ["Ota", "Package"]


@attrs.frozen
class Package:
    """A downloaded, verified package, handed to :meth:`Ota.install`: ``path`` is the file
    (removed once ``install`` returns, unless ``install`` moved it)."""

    path: Path
    version: str
    size: int
    sha256: str
    md5: str
    kind: UpgradeKind = "firmware"


class Ota:
    """Subclass and write :meth:`version` and :meth:`install` (both required, checked when the
    class is created). ``download_dir``: where packages land (default: a private temp dir)."""

    #: what the cloud upgrades: Huawei has firmware and software upgrades; others one kind
    kind: ClassVar[UpgradeKind] = "firmware"
    download_dir: Path | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind not in ("firmware", "software"):
            raise DefinitionError(f"{cls.__name__}.kind must be 'firmware' or 'software', not {cls.kind!r}")
        for name, arity in (("version", 0), ("install", 1)):
            method = getattr(cls, name)
            if method is getattr(Ota, name):
                raise DefinitionError(f"{cls.__name__} must define {name}() (see thingmodel.Ota)")
            if not callable(method):
                raise DefinitionError(f"{cls.__name__}.{name} must be a method")
            try:
                inspect.signature(method).bind(None, *([None] * arity))
            except TypeError:
                shown = "self" if arity == 0 else "self, package"
                raise DefinitionError(f"{cls.__name__}.{name} must take ({shown})") from None

    def version(self) -> str:
        """The version the device runs now (the firmware's, or the software's with kind software)."""
        raise NotImplementedError

    def software_version(self) -> str | None:
        """The software version to report beside the firmware's (None: none)."""
        return None

    def install(self, package: Package) -> None:
        """Install a verified package; raise to fail (the device keeps its version)."""
        raise NotImplementedError

    def directory(self) -> Path:
        """Where downloads go: :attr:`download_dir`, else a private temp dir made once."""
        if self.download_dir is None:
            self.download_dir = Path(tempfile.mkdtemp(prefix="thingmodel-ota-"))
        self.download_dir.mkdir(parents=True, exist_ok=True)
        return self.download_dir
