"""Typed settings: an app's own pydantic model or dataclass as the type of its keys (``ConfigService(
settings=Settings)``), built into a frozen instance for every configuration the app applies."""

from configsvc.typed.model import SettingsModel, describe

__all__ = ["SettingsModel", "describe"]
