"""The supply chain: every environment installs a lock of exact versions with hashes (tools/lock.py), no lock
is older than its inputs, and the tests run on the SDK the layer ships."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import boto3
import botocore
import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.conftest import ROOT
from tools.lock import LOCKS, Lock, check, fingerprint, read_lock

LAYER_LOCK = ROOT / "layers" / "requirements.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"


def _pins(path: Path) -> dict[str, str]:
    pins, problems = read_lock(path.read_text(encoding="utf-8"))
    assert problems == []
    return {pin.name: pin.version for pin in pins if pin.marker is None or Marker(pin.marker).evaluate()}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of every lock and its inputs, to plant violations in."""
    for lock in LOCKS:
        for name in (lock.output, *lock.inputs):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_every_lock_is_fresh_pinned_and_hashed() -> None:
    assert check() == []


def test_the_locks_cover_every_environment() -> None:
    """make setup installs each environment from its lock, in pip's hash-checking mode, wheels only."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    locked = re.search(r"^PIP_LOCKED := (.+)$", makefile, re.M)
    assert locked and {"--require-hashes", "--no-deps", "--only-binary=:all:"} <= set(locked[1].split())
    for lock in ("requirements/dev.txt", "requirements/sam.txt", "requirements/checkov.txt"):
        assert re.search(rf"\$\(PIP_LOCKED\) -r {re.escape(lock)}$", makefile, re.M), lock
        assert re.search(rf"^\S+/\.(locked|installed): .*{re.escape(lock)}", makefile, re.M), f"{lock} rebuilds its env"
    assert not re.search(r"pip install (?!.*(-r requirements/|--no-deps)).*", makefile), "an install outside a lock"
    assert {lock.output for lock in LOCKS} == {
        "layers/requirements.txt",
        *re.findall(r"-r (requirements/\S+)", makefile),
    }


def test_the_layer_lock_is_for_lambda() -> None:
    (layer,) = [lock for lock in LOCKS if lock.output == "layers/requirements.txt"]
    assert "--python-version 3.12" in " ".join(layer.options)
    assert "x86_64-manylinux" in " ".join(layer.options)
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    assert "Runtime: python3.12" in template and "BuildMethod: python3.12" in template


def test_the_tests_run_on_the_sdk_the_layer_ships() -> None:
    layer = _pins(LAYER_LOCK)
    assert boto3.__version__ == layer["boto3"]
    assert botocore.__version__ == layer["botocore"]
    dev = _pins(DEV_LOCK)
    shared = sorted(set(layer) & set(dev))
    assert {"boto3", "botocore", "aws-lambda-powertools", "pyyaml"} <= set(shared)
    assert [f"{name}=={dev[name]}" for name in shared] == [f"{name}=={layer[name]}" for name in shared]


def test_the_dev_environment_is_the_lock() -> None:
    """What .venv holds is what requirements/dev.txt pins (a stale .venv is rebuilt by make setup)."""
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    expected = _pins(DEV_LOCK)
    assert {name: installed.get(name) for name in expected} == expected
    assert installed["moto"] == "5.2.5" and installed["aws-lambda-powertools"] == "3.37.0"


# ---- the checks can fail -----------------------------------------------------------------------------------


def test_a_changed_input_makes_its_lock_stale(repo: Path) -> None:
    source = repo / "layers" / "requirements.in"
    source.write_text(source.read_text(encoding="utf-8") + "requests==2.32.3\n", encoding="utf-8")
    problems = check(repo)
    assert any(p.startswith("layers/requirements.txt: stale") for p in problems), problems
    # the dev lock is compiled against the layer's: it is stale too once the layer's lock is regenerated
    assert not any(p.startswith("requirements/dev.txt: stale") for p in problems)


def test_a_changed_pyproject_dependency_makes_the_dev_lock_stale(repo: Path) -> None:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace('"hypothesis",', '"hypothesis", "rich",'))
    assert any(p.startswith("requirements/dev.txt: stale") for p in check(repo))


def test_a_pyproject_change_elsewhere_keeps_the_dev_lock_fresh(repo: Path) -> None:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace("line-length = 120", "line-length = 100"))
    assert check(repo) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda text: text.replace("pyyaml==6.0.3", "pyyaml>=6.0.3", 1), "not pinned with ==: pyyaml>=6.0.3"),
        (
            lambda text: re.sub(
                r"(six==1\.17\.0) \\\n(\s+--hash=sha256:[0-9a-f]{64} \\\n)*\s+--hash=sha256:[0-9a-f]{64}\n",
                r"\1\n",
                text,
            ),
            "six==1.17.0: every line needs --hash=sha256",
        ),
        (lambda text: text + "-e git+https://example.invalid/x.git#egg=x\n", "not pinned with ==: -e git+"),
        (
            lambda text: text.replace("boto3==1.44.8", "boto3==1.44.7", 1),
            "boto3==1.44.8 (layers/requirements.in) is not",
        ),
    ],
)
def test_planted_lock_lines_are_caught(repo: Path, edit: Callable[[str], str], expected: str) -> None:
    lock = repo / "layers" / "requirements.txt"
    lock.write_text(edit(lock.read_text(encoding="utf-8")), encoding="utf-8")
    problems = check(repo)
    assert any(expected in p for p in problems), problems


def test_a_planted_dev_pin_that_differs_from_the_layer_is_caught(repo: Path) -> None:
    lock = repo / "requirements" / "dev.txt"
    text = lock.read_text(encoding="utf-8")
    lock.write_text(text.replace("botocore==1.44.8", "botocore==1.44.7", 1), encoding="utf-8")
    problems = check(repo)
    assert "requirements/dev.txt: botocore==1.44.7, but layers/requirements.txt pins 1.44.8" in problems


def test_a_missing_lock_is_caught(repo: Path) -> None:
    (repo / "requirements" / "sam.txt").unlink()
    assert "requirements/sam.txt: missing (make lock)" in check(repo)


def test_the_fingerprint_is_of_the_inputs_only(repo: Path) -> None:
    lock = Lock("layers/requirements.txt", ("layers/requirements.in",), options=("--python-version", "3.12"))
    before = fingerprint(lock, repo)
    (repo / "layers" / "requirements.txt").write_text("anything\n", encoding="utf-8")
    assert fingerprint(lock, repo) == before
    assert fingerprint(Lock(lock.output, lock.sources, options=("--python-version", "3.13")), repo) != before
