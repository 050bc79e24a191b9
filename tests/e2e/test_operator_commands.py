"""The operator's day (issue 18): show one incident, filter the history; bad input is one line, exit 2, nothing
changed. In process, against the deployed controller (the CLI reads its stack's outputs as it would on AWS)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from rollbackctl.cli import app
from rollbackctl.emulator import estate
from rollbackctl.emulator.demo import fire_and_wait
from rollbackctl.model import iso, utcnow

runner = CliRunner()
CHECKOUT = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"


def two_incidents(aws: Any, controller: Any) -> tuple[str, str]:
    """A canary rolled back (checkout), and an alarm on a function with one version, refused (orders)."""
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    estate.lambda_with_versions(aws, "orders", 1)
    estate.alias(aws, "orders", "live", "1")
    estate.lambda_errors_alarm(aws, "orders-live-errors", "orders", "live")
    [rolled] = fire_and_wait(aws, controller, "checkout-live-errors")
    [refused] = fire_and_wait(aws, controller, "orders-live-errors")
    return json.loads(rolled["output"])["incident_id"], json.loads(refused["output"])["incident_id"]


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))  # once what the estate set off has landed (tests/e2e/conftest.py)


def test_show_tells_one_incident_as_the_demo_does_and_as_json(aws: Any, controller: Any) -> None:
    rolled, _ = two_incidents(aws, controller)
    shown = cli("show", rolled)
    assert shown.exit_code == 0, shown.output
    for words in ("alarm checkout-live-errors -> ALARM", "decision: rolled_back", "traffic restored", "on-call"):
        assert words in shown.stdout
    record = json.loads(cli("show", rolled, "--json").stdout)
    assert (record["incident_id"], record["action"], record["target"]) == (rolled, "rolled_back", CHECKOUT)


@pytest.mark.parametrize(
    "args, says",
    [
        (["show", "inc-20261202T000000-00000000"], "no incident inc-20261202T000000-00000000"),
        (["show", "../../etc/passwd"], "is not an incident id"),
        (["history", "--action", "exploded"], "--action must be one of rolled_back, ignored"),
        (["history", "--since", "last tuesday"], "--since must be an ISO 8601 time or an age"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(aws: Any, controller: Any, args: list[str], says: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and says in result.stderr


def test_history_filters_by_target_action_and_time(aws: Any, controller: Any) -> None:
    rolled, refused = two_incidents(aws, controller)

    def ids(*args: str) -> list[str]:
        result = cli("history", "--json", *args)
        assert result.exit_code == 0, result.output
        return [i["incident_id"] for i in json.loads(result.stdout)]

    assert ids() == [refused, rolled]  # newest first
    assert ids("--target", CHECKOUT) == [rolled] == ids("--target", "checkout:live")
    assert ids("--action", "refused") == [refused]
    assert ids("--action", "rolled_back", "--target", "orders:live") == []
    assert ids("--since", "1h") == [refused, rolled]
    assert ids("--since", iso(utcnow())) == []  # both started before now
    assert ids("--since", "2020-01-01", "--account", "123456789012", "--region", "us-east-1") == [refused, rolled]


# --- good: a known-good by hand ---------------------------------------------------------------------------------


def moved_all_at_once(aws: Any) -> None:
    """Day one: checkout:live went from 1 to 2 all at once, and rollbackctl never watched 1 serve."""
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "2")
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")


def ledger_rows(aws: Any, controller: Any) -> list[tuple[str, str, str]]:
    from rollbackctl.store import Ledger

    book = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])
    return sorted((e.version, e.status, e.reason) for e in book.entries(CHECKOUT))


def test_a_version_marked_good_by_hand_is_what_the_next_rollback_goes_back_to(aws: Any, controller: Any) -> None:
    from rollbackctl.emulator.demo import recover
    from tests.e2e.conftest import as_role

    moved_all_at_once(aws)
    [first] = fire_and_wait(aws, controller, "checkout-live-errors")
    assert json.loads(first["output"])["action"] == "refused"  # no known-good yet: never guessed
    with as_role(aws, "dana"):
        marked = cli("good", CHECKOUT, "1", "--reason", "ran in production for a year before rollbackctl")
    assert marked.exit_code == 0, marked.output
    [(version, status, reason)] = [row for row in ledger_rows(aws, controller) if row[0] == "1"]
    assert (version, status) == ("1", "good")
    assert "assumed-role/dana/dana-session (STS caller identity)" in reason and "for a year" in reason

    recover(aws, "checkout-live-errors")
    [second] = fire_and_wait(aws, controller, "checkout-live-errors")
    incident = json.loads(second["output"])
    assert (incident["action"], incident["to_version"]) == ("rolled_back", "1")
    assert aws.client("lambda").get_alias(FunctionName="checkout", Name="live")["FunctionVersion"] == "1"


@pytest.mark.parametrize(
    "args, says",
    [
        (["arn:aws:sqs:us-east-1:123456789012:queue", "1"], "is not a Lambda alias ARN"),
        ([CHECKOUT, "7"], "version 7 of checkout no longer exists"),
        ([CHECKOUT, "$LATEST"], "is not a published version of checkout"),
        ([CHECKOUT, "1", "--reason", " "], "say why it is good"),
    ],
)
def test_good_refuses_what_it_cannot_vouch_for_and_changes_nothing(
    aws: Any, controller: Any, args: list[str], says: str
) -> None:
    moved_all_at_once(aws)
    before = ledger_rows(aws, controller)
    result = cli("good", *args, *([] if "--reason" in args else ["--reason", "trusted"]))
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and says in result.stderr
    assert ledger_rows(aws, controller) == before


def test_a_version_an_incident_marked_bad_is_not_made_good_by_hand(aws: Any, controller: Any) -> None:
    from rollbackctl.store import Ledger

    moved_all_at_once(aws)
    Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"]).record(CHECKOUT, "1", "bad", "inc-earlier")
    result = cli("good", CHECKOUT, "1", "--reason", "I am sure")
    assert result.exit_code == 2 and "is marked bad in the ledger" in result.stderr
    assert [row[:2] for row in ledger_rows(aws, controller) if row[0] == "1"] == [("1", "bad")]


# --- status -----------------------------------------------------------------------------------------------------


def test_status_shows_what_is_guarded_what_is_blocked_and_the_controls(
    aws: Any, controller: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from rollbackctl import cli as command_line
    from tests.e2e.conftest import as_role

    monkeypatch.setattr(command_line, "out", Console(width=240))  # a wide terminal: one row per target

    # a canary mid-change (its alarm guards it), and a service shipped by a pipeline that an incident then blocked
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    one, _ = estate.service_shipped_by_pipeline(aws)
    [web] = fire_and_wait(aws, controller, "web-5xx")
    web_incident = json.loads(web["output"])["incident_id"]
    with as_role(aws, "erin"):
        assert cli("pause", "--reason", "game day").exit_code == 0

    result = cli("status", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    by_name = {t["name"]: t for t in found["targets"]}
    assert by_name["checkout:live"]["alarms"] == ["checkout-live-errors"]
    assert by_name["checkout:live"]["serving"] is None  # mid-canary: a rollback now takes the canary away
    assert (by_name["checkout:live"]["known_good"], by_name["checkout:live"]["rollback_now"]) == ("1", "to 1")
    # the rollback's ECS deployment is still rolling out (the emulator holds it): no one version serves yet
    assert (by_name["prod/web"]["serving"], by_name["prod/web"]["known_good"]) == (None, one)
    assert "marks bad" in by_name["prod/web"]["rollback_now"]  # going back to 2 now would be into a known-bad
    assert by_name["prod/web"]["mode"] == "enforce"
    assert [(b["pipeline"], b["incident_id"]) for b in found["blocked"]] == [("web-pipeline", web_incident)]
    assert found["kill_switch"]["value"] == "on" and "assumed-role/erin" in found["kill_switch"]["set"]
    assert "game day" in found["kill_switch"]["set"]
    assert found["rate_cap"]["account"]["used"] == 1  # the web rollback
    assert found["where"] == "account 123456789012, us-east-1"

    shown = cli("status")
    assert shown.exit_code == 0, shown.output
    for words in ("checkout:live", "prod/web", "web-pipeline", web_incident, "kill switch: on", "1 of 5"):
        assert words in shown.stdout


def test_status_of_another_account_says_what_it_did_not_read(aws: Any, controller: Any) -> None:
    from rollbackctl.store import Ledger

    member = "arn:aws:lambda:us-west-2:210987654321:function:checkout:live"
    Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"]).record(member, "3", "good", "by hand")
    result = cli("status", "--json", "--account", "210987654321", "--region", "us-west-2")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    [target] = found["targets"]
    assert (target["name"], target["known_good"], target["note"]) == (
        "checkout:live",
        "3",
        "not read (another account)",
    )
    assert "were not read: your credentials are another account's" in found["notes"][0]
    assert found["where"] == "account 210987654321, us-west-2"
    assert cli("status", "--account", "21098").exit_code == 2


# --- lint -------------------------------------------------------------------------------------------------------


def test_lint_finds_the_three_classic_mistakes_and_exits_1(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")  # fine
    estate.lambda_errors_alarm(aws, "typo-errors", "chekout", "live")  # dimensions pointing at nothing
    estate.lambda_errors_alarm(aws, "misspelt-errors", "checkout", "live")
    alarms = aws.client("cloudwatch")
    misspelt = alarms.describe_alarms(AlarmNames=["misspelt-errors"])["MetricAlarms"][0]["AlarmArn"]
    alarms.tag_resource(ResourceARN=misspelt, Tags=[{"Key": "rollback:mode", "Value": "enforced"}])
    estate.pipeline(aws, "web-pipeline")
    one, _ = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", one, tags={"rollback:pipeline": "web-pipline"})  # no such pipeline
    estate.ecs_alarm(aws, "web-5xx", "prod", "web")

    result = cli("lint", "--json")
    assert result.exit_code == 1, result.output
    found = {f["where"]: f["problem"] for f in json.loads(result.stdout)}
    assert set(found) == {"alarm typo-errors", "alarm misspelt-errors", "target prod/web"}
    assert found["alarm typo-errors"].startswith("its metric's dimensions point at chekout:live")
    assert "which does not exist (ResourceNotFoundException): it guards nothing" in found["alarm typo-errors"]
    assert found["alarm misspelt-errors"].startswith("rollback:mode='enforced' is not enforce, dry-run, off")
    assert (
        found["target prod/web"] == "rollback:pipeline='web-pipline' names pipeline 'web-pipline', which does not exist"
    )


def test_lint_on_a_sound_estate_finds_nothing_and_exits_0(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    estate.pipeline(aws, "web-pipeline")
    one, _ = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", one, tags={"rollback:pipeline": "web-pipeline/Deploy"})
    estate.ecs_alarm(aws, "web-5xx", "prod", "web")
    result = cli("lint")
    assert result.exit_code == 0, result.output
    assert "nothing found" in result.stdout
    assert json.loads(cli("lint", "--json").stdout) == []


def test_lint_finds_a_known_good_that_is_no_longer_restorable(aws: Any, controller: Any) -> None:
    from rollbackctl.store import Ledger

    moved_all_at_once(aws)
    Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"]).record(CHECKOUT, "1", "good", "served")
    assert cli("lint").exit_code == 0
    aws.client("lambda").delete_function(FunctionName="checkout", Qualifier="1")
    result = cli("lint", "--json")
    assert result.exit_code == 1, result.output
    [finding] = json.loads(result.stdout)
    assert finding["where"] == "target checkout:live"
    assert finding["problem"].startswith("its known-good 1 is not restorable: version 1 of checkout no longer exists")
