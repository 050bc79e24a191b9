"""The rollback:* tags (DESIGN.md): what an alarm or a target says about how rollbackctl treats it.

- ``rollback:target`` on an alarm: the target it guards (wins over the alarm's metric dimensions);
- ``rollback:pipeline`` on the alarm or the target: ``PIPELINE`` or ``PIPELINE/STAGE`` that ships the target;
- ``rollback:mode`` on the alarm or the target: ``enforce`` | ``dry-run`` | ``off`` (the most careful wins);
- ``rollback:managed`` = ``true`` on the target itself: enrolled, when the stack runs with TargetOptIn=tag.
"""

from __future__ import annotations

TARGET_TAG = "rollback:target"
MODE_TAG = "rollback:mode"
PIPELINE_TAG = "rollback:pipeline"
MANAGED_TAG = "rollback:managed"
TAG_MODES = ("enforce", "dry-run", "off")


def effective_mode(global_mode: str, *tag_sets: dict[str, str]) -> tuple[str, str]:
    """The most careful of the stack's Mode and any rollback:mode tag: off > dry-run > enforce."""
    order = {"enforce": 0, "dry-run": 1, "off": 2}
    mode, source = global_mode, f"stack parameter Mode={global_mode}"
    for tags in tag_sets:
        value = tags.get(MODE_TAG)
        if value is None:
            continue
        if value not in TAG_MODES:
            # A misspelt tag never enables enforcement: it is read as dry-run, which still reports.
            value = "dry-run"
        if order[value] > order[mode]:
            mode, source = value, f"tag {MODE_TAG}={tags[MODE_TAG]}"
    return mode, source


def enrolled(tags: dict[str, str]) -> bool:
    """Whether a target's own tags enrol it (TargetOptIn=tag)."""
    return tags.get(MANAGED_TAG, "").strip().lower() == "true"
