"""Development's embedded broker: kombu's ``filesystem://`` transport and a ``file://`` result backend."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def with_control_folder(settings: dict[str, Any]) -> dict[str, Any]:
    """kombu's filesystem transport keeps its exchange tables in ``control/`` under the *working
    directory* unless told otherwise: put them beside the queue folder, where web and worker both look."""
    options = settings.get("broker_transport_options")
    if str(settings.get("broker_url", "")).startswith("filesystem://") and isinstance(options, dict) \
            and options.get("data_folder_in") and not options.get("control_folder"):
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
