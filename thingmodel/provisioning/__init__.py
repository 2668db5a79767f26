"""Device provisioning on each vendor: a device gets its credentials from a provisioning service,
keeps them (mode 0600), and connects with them on every boot after.

    from thingmodel.provisioning import huawei

    creds = huawei.provision("dev-1", host="bs.example", scope_id="group-1",
                             group_secret="...", store="/var/lib/dev/credentials.json")
    device = creds.device([SmokeDetector()])   # Device.for_huawei with what it was given

- :mod:`.huawei`: IoTDA's bootstrap (``bootstrap/up`` / ``bootstrap/down``; standard bootstrap
  and registration groups).
- :mod:`.aws`: AWS IoT fleet provisioning by claim (CreateKeysAndCertificate or
  CreateCertificateFromCsr, then RegisterThing).
- :mod:`.tencent`: Tencent IoT dynamic registration (HTTP, signed with the ProductSecret, the
  answer AES-encrypted).

Each module holds both ends, sans-IO (the local cloud's provisioning service,
``thingmodel.cloud.provisioning``, is the other user), and a blocking ``provision(...)``. Given
``store=PATH`` and credentials already there, ``provision`` returns them without asking again.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .credentials import Provisioned, ProvisioningError, Refused

if TYPE_CHECKING:
    from . import aws, huawei, tencent
    from .aws import ProvisioningTemplate

__all__ = ["Provisioned", "ProvisioningError", "ProvisioningTemplate", "Refused", "aws", "huawei", "tencent"]


def __getattr__(name: str) -> Any:
    # Each vendor's module is imported when first used: a device loads only the one it speaks.
    if name in ("aws", "huawei", "tencent"):
        return importlib.import_module(f"{__name__}.{name}")
    if name == "ProvisioningTemplate":
        return importlib.import_module(f"{__name__}.aws").ProvisioningTemplate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
