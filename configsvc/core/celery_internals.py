"""Celery's table of old setting names, the one private part of Celery the core reads.

``celery.app.defaults._TO_NEW_KEY`` maps the old upper-case names (``CELERY_RESULT_BACKEND``,
``BROKER_URL``) to today's; Celery keeps it private. Checked against Celery 5.7. The core reads Celery
only here and in :func:`configsvc.core.schema.celery_settings` (the public settings table), so it needs
nothing from :mod:`configsvc.celery`.
"""

from __future__ import annotations


def old_setting_names() -> dict[str, str]:
    """Celery's own table of old setting names (``CELERY_RESULT_BACKEND``) to new ones."""
    from celery.app import defaults

    return dict(defaults._TO_NEW_KEY)
