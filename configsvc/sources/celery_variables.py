"""Variables Celery and kombu read from the process environment by themselves: refused, not layered.

Celery's settings prefer ``CELERY_BROKER_URL``, ``CELERY_BROKER_READ_URL``, ``CELERY_BROKER_WRITE_URL`` and
``CELERY_RESULT_BACKEND`` to every configured value (``celery.app.utils.Settings``, Celery 5.7; ``celery
--broker``/``--result-backend`` set them too), its loaders import the module ``CELERY_CONFIG_MODULE`` names
(``CELERY_LOADER`` picks another loader), and kombu's SoftLayer MQ transport takes its account from
``SLMQ_*``/``SL_*`` over the URL. Any of them would make a process connect with something ``configsvc
show`` does not print, and a rotation of the deployment file change nothing. So each is an error naming
the configsvc variable to use instead: one source of truth, whatever the app used before.

Celery's other variables do not choose what a process connects with, and are left alone: logging of
prefork children (``CELERY_LOG_*``, set by Celery itself), ``CELERY_CUSTOM_WORKER_POOL``, the worker's
bookkeeping limits (``CELERY_WORKER_REVOKES_MAX`` and the like), ``CELERY_RDB_*``, ``C_FORCE_ROOT``,
``KOMBU_LOG_*``, ``PICKLE_PROTOCOL`` (configsvc's defaults accept JSON only).
"""

from __future__ import annotations

from collections.abc import Mapping

from configsvc.errors import Problem

SOURCE_NAME = "environment (read by Celery)"

#: Variables Celery prefers to its configured settings -> the setting they stand for.
URL_VARIABLES = {
    "CELERY_BROKER_URL": "celery.broker_url",
    "CELERY_BROKER_READ_URL": "celery.broker_read_url",
    "CELERY_BROKER_WRITE_URL": "celery.broker_write_url",
    "CELERY_RESULT_BACKEND": "celery.result_backend",
}
#: Variables that make Celery load settings from elsewhere.
LOADER_VARIABLES = ("CELERY_CONFIG_MODULE", "CELERY_LOADER")
#: kombu's SoftLayer MQ transport reads its account from these, over the broker URL.
SLMQ_VARIABLES = ("SLMQ_ACCOUNT", "SL_USERNAME", "SL_API_KEY", "SLMQ_HOST", "SLMQ_PORT", "SLMQ_SECURE")


def celery_variable_problems(environ: Mapping[str, str], env_prefix: str,
                             broker_url: object = None) -> list[Problem]:
    """One problem per variable of ``environ`` that Celery or kombu would read behind configsvc's back
    (the SLMQ ones only when ``broker_url`` uses that transport)."""
    problems = []
    for variable, setting in URL_VARIABLES.items():
        if environ.get(variable):
            instead = env_prefix + "__".join(part.upper() for part in setting.split("."))
            problems.append(_problem(
                variable, setting,
                f"is set, and Celery reads it itself and prefers it to every configuration source, so what "
                f"configsvc shows would not be what connects (and a rotation would change nothing); set "
                f"{instead}, or {setting} in the deployment file, and unset {variable} (celery --broker "
                f"and --result-backend set these too)"))
    for variable in LOADER_VARIABLES:
        if environ.get(variable):
            problems.append(_problem(
                variable, None,
                "is set, and Celery would load settings from it behind configsvc's back; put those "
                f"settings in the defaults file, the deployment file or {env_prefix}CELERY__* variables, "
                f"and unset {variable}"))
    if str(broker_url or "").lower().startswith("slmq"):
        for variable in SLMQ_VARIABLES:
            if environ.get(variable):
                problems.append(_problem(
                    variable, "celery.broker_url",
                    "is set, and kombu's SoftLayer MQ transport prefers it to the broker URL; put the "
                    f"account in celery.broker_url and unset {variable}"))
    return problems


def _problem(variable: str, key: str | None, message: str) -> Problem:
    return Problem(message, kind="validation", key=key, source=SOURCE_NAME, variable=variable)
