"""Development's embedded broker: kombu's ``filesystem://`` transport and a ``file://`` result backend."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: The transport a ``filesystem://`` broker uses (see :func:`embedded_settings`).
FILESYSTEM_TRANSPORT = "configsvc.celery.filesystem_internals:Transport"


def embedded_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The Celery settings of a ``filesystem://`` broker as configsvc runs it: messages written whole
    (:mod:`configsvc.celery.filesystem_internals`, unless the app names a ``broker_transport`` of its
    own), and the exchange tables beside the queue folder, where web and worker both look (kombu keeps
    them in ``control/`` under the *working directory* unless told otherwise)."""
    if not str(settings.get("broker_url", "")).startswith("filesystem://"):
        return settings
    settings.setdefault("broker_transport", FILESYSTEM_TRANSPORT)
    options = settings.get("broker_transport_options")
    if isinstance(options, dict) and options.get("data_folder_in") and not options.get("control_folder"):
        queue = Path(options["data_folder_in"])
        settings["broker_transport_options"] = {**options, "control_folder": str(queue.parent / "control")}
    return settings


def prepare_folders(settings: Mapping[str, Any]) -> None:
    """Create the folders kombu's filesystem transport and the file:// backend need."""
    if str(settings.get("broker_url", "")).startswith("filesystem://"):
        options = settings.get("broker_transport_options") or {}
        for name in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(name):
                Path(options[name]).mkdir(parents=True, exist_ok=True)
    backend = settings.get("result_backend")
    if isinstance(backend, str) and backend.startswith("file://"):
        Path(urlsplit(backend).path).mkdir(parents=True, exist_ok=True)


_HOSTLESS = ("filesystem://", "memory://")


class HostlessTransportFilter(logging.Filter):
    """Drops kombu's "No hostname was supplied" warning when the broker is a transport without a host.

    kombu logs it for ``filesystem://`` and ``memory://`` (which have no host to supply) on every
    connection, three times at each worker start. For a network transport it stays: there it means a URL
    fell back to ``localhost``.
    """

    def __init__(self, broker_url: Callable[[], str]) -> None:
        super().__init__("kombu.connection")
        self.broker_url = broker_url

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("No hostname was supplied"):
            return True
        return not self.broker_url().startswith(_HOSTLESS)


def quiet_hostless_warnings(broker_url: Callable[[], str]) -> None:
    """Install :class:`HostlessTransportFilter` on kombu's connection logger (once per process)."""
    target = logging.getLogger("kombu.connection")
    if not any(isinstance(existing, HostlessTransportFilter) for existing in target.filters):
        target.addFilter(HostlessTransportFilter(broker_url))
