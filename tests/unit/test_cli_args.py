"""``--parameter-overrides`` as ``sam deploy`` takes it (issue 18): several values after one flag, the flag
repeated, ``ParameterKey=K,ParameterValue=V``; a value that is none of these is one line and exit 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rollbackctl.cli import app, sam_style
from rollbackctl.emulator import parse_overrides

FLAG = "--parameter-overrides"


@pytest.mark.parametrize(
    "argv, values",
    [
        ([FLAG, "A=1", "B=2", "--deploy"], {"A": "1", "B": "2"}),
        ([FLAG, "A=1", FLAG, "B=2"], {"A": "1", "B": "2"}),
        ([FLAG, "ParameterKey=A,ParameterValue=1", "B=x=y"], {"A": "1", "B": "x=y"}),
        ([f"{FLAG}=A=1", "B=2"], {"A": "1", "B": "2"}),
        ([FLAG, "A=1 B=2"], {"A": "1", "B": "2"}),  # one quoted string, as sam deploy also takes it
    ],
)
def test_overrides_after_one_flag_are_each_a_value_of_it(argv: list[str], values: dict[str, str]) -> None:
    normal = sam_style(["local-aws", *argv])
    given = [normal[i + 1] for i, token in enumerate(normal) if token == FLAG]
    assert parse_overrides(given) == values
    assert [t for t in normal if t != FLAG and t not in given] == ["local-aws"] + (
        ["--deploy"] if "--deploy" in argv else []
    )


def test_what_follows_the_overrides_is_left_alone() -> None:
    assert sam_style(["run", "events/x.json", FLAG, "A=1", "--", "B=2"]) == [
        "run",
        "events/x.json",
        FLAG,
        "A=1",
        "--",
        "B=2",
    ]


@pytest.mark.parametrize("argv", [[FLAG, "oops"], [FLAG, "ParameterKey=A"]])
def test_a_value_that_is_not_an_override_is_one_line_and_exit_2(argv: list[str]) -> None:
    result = CliRunner().invoke(app, sam_style(["demo", *argv]))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "parameter override" in result.stderr


def test_the_flag_without_a_value_is_refused_by_the_parser() -> None:
    result = CliRunner().invoke(app, sam_style(["demo", FLAG]))
    assert result.exit_code == 2 and "requires an argument" in result.output + result.stderr
