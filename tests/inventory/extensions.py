"""The inventory app's extensions, unbound at import."""

from configsvc.celery import FlaskCelery
from configsvc.flask import ConfigService

config = ConfigService(
    defaults="defaults.yaml",
    env_prefix="INVENTORY_",
    file_variable="INVENTORY_CONFIG",
    default_file="inventory.yaml",
    schema={"warehouse.capacity": int, "warehouse.open": bool, "report_hour": range(0, 24),
            "suppliers": list},
)
celery = FlaskCelery("inventory")
