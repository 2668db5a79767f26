"""Ota classes are checked when they are defined."""

from __future__ import annotations

import pytest

from thingmodel import DefinitionError
from thingmodel.features.ota import Ota, Package


def test_an_ota_without_install_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(DefinitionError, match="must define install"):

        class NoInstall(Ota):
            def version(self) -> str:
                return "1"


def test_an_ota_without_version_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(DefinitionError, match="must define version"):

        class NoVersion(Ota):
            def install(self, package: Package) -> None:
                pass


def test_an_install_that_takes_no_package_is_refused() -> None:
    with pytest.raises(DefinitionError, match=r"install must take \(self, package\)"):

        class Wrong(Ota):
            def version(self) -> str:
                return "1"

            def install(self) -> None:  # type: ignore[override]
                pass


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(DefinitionError, match="kind must be"):

        class Odd(Ota):
            kind = "bootloader"  # type: ignore[assignment]

            def version(self) -> str:
                return "1"

            def install(self, package: Package) -> None:
                pass
