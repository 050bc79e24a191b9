"""CodeBuild builds that fail in a phase, as BatchGetBuilds reports them (moto reports every build as
having succeeded every phase). ``fail_build`` plays what CodeBuild does (for tests and the demo)."""

from __future__ import annotations

from typing import Any

from moto.codebuild.models import CodeBuildBackend, codebuild_backends
from moto.core.utils import iso_8601_datetime_with_milliseconds

PHASES = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
]
_failed: dict[str, dict[str, str]] = {}
_original = CodeBuildBackend.batch_get_builds


def fail_build(account: str, region: str, build_id: str, phase: str, message: str, status: str = "FAILED") -> None:
    del account, region  # builds are keyed by id here
    _failed[build_id] = {"phase": phase, "message": message, "status": status}


def _batch_get_builds(self: CodeBuildBackend, ids: list[str]) -> list[dict[str, Any]]:
    builds = _original(self, ids)
    now = iso_8601_datetime_with_milliseconds()
    for build in builds:
        failure = _failed.get(build["id"])
        if failure is None:
            continue
        phases = []
        for phase in PHASES[: PHASES.index(failure["phase"]) + 1]:
            entry: dict[str, Any] = {"phaseType": phase, "phaseStatus": "SUCCEEDED", "startTime": now, "endTime": now}
            if phase == failure["phase"]:
                entry["phaseStatus"] = failure["status"]
                entry["contexts"] = [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": failure["message"]}]
            phases.append(entry)
        build.update(phases=phases, buildStatus=failure["status"], currentPhase="COMPLETED")
    return builds


def start(account: str, region: str, project: str) -> str:
    return str(codebuild_backends[account][region].start_build(project)["id"])


def install() -> None:
    CodeBuildBackend.batch_get_builds = _batch_get_builds  # type: ignore[method-assign]
