"""DORA's time to restore and change failure rate, per target, as CloudWatch metrics (EMF, through Powertools).

- ``Rollbacks`` (Count) and ``TimeToRestore`` (Milliseconds): Notify, once per incident that rolled back (never
  again on a retry of the record step);
- ``Deployments`` (Count): Track, once per deployment it records.

Each carries the dimensions ``target`` (how people say it: NAME:ALIAS, CLUSTER/SERVICE, ...) and ``account``, so
that per target per day, change failure rate = Rollbacks / Deployments, and time to restore = TimeToRestore's
percentiles (the dashboard's DORA widgets; the README maps them to DORA's definitions).
"""

from __future__ import annotations

from . import kinds

NAMESPACE = "rollbackctl"


def dimensions(target: str) -> dict[str, str]:
    parsed = kinds.parse(target)
    return {"target": parsed.name if parsed else target[:250], "account": parsed.account if parsed else ""}


def _emit(name: str, unit: str, value: float, target: str) -> None:
    # Loaded when first used: Track, whose cold start would otherwise grow by the metrics provider's ~50 ms, emits
    # a metric only when it records a deployment.
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=NAMESPACE) as metric:
        for key, value_ in dimensions(target).items():
            metric.add_dimension(name=key, value=value_ or "-")


def rolled_back(target: str, time_to_restore_ms: int | None) -> None:
    _emit("Rollbacks", "Count", 1, target)
    if time_to_restore_ms is not None:
        _emit("TimeToRestore", "Milliseconds", time_to_restore_ms, target)


def deployed(target: str) -> None:
    _emit("Deployments", "Count", 1, target)
