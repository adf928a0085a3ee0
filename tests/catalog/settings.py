"""The catalog's settings model: its own keys typed, with a nested section, a validator and a secret."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr, field_validator


class FeatureSettings(BaseModel):
    limit: int = 10
    label: str = "standard"

    @field_validator("limit")
    @classmethod
    def within_reason(cls, value: int) -> int:
        if not 0 < value <= 1000:
            raise ValueError(f"limit {value} is out of range (1 to 1000)")
        return value


class Settings(BaseModel):
    page_size: int = 20
    partner_signature: SecretStr | None = None   # secret by type, not by name
    regions: list[str] = ["eu"]
    feature: FeatureSettings = FeatureSettings()
