"""The repository's locks: every environment installs exact versions, each file checked against its hash.

| lock                       | from                                            | installed by                        |
|----------------------------|-------------------------------------------------|-------------------------------------|
| `layers/requirements.txt`  | `layers/requirements.in`                        | `sam build` (the layer; Lambda's    |
|                            |                                                 | python3.12 on x86_64)               |
| `requirements/dev.txt`     | `pyproject.toml` [local,dev], `requirements/    | `make setup`: `.venv`               |
|                            | dev.in`; constrained by the layer's lock        |                                     |
| `requirements/sam.txt`     | `requirements/sam.in`                           | `make setup`: `.venv-sam`           |
| `requirements/checkov.txt` | `requirements/checkov.in`                       | `make setup`: `.venv-checkov`       |

The dev lock is compiled with the layer's lock as constraints, so the tests run on the SDK the layer ships.
Each lock is written by `uv pip compile --generate-hashes` (every file of every pinned release is hashed, so
pip's hash-checking mode accepts whichever wheel suits the machine) and starts with a fingerprint of what it
was compiled from: a changed input with an old lock is found offline, without asking an index.

    python tools/lock.py            # regenerate every lock (make lock; needs the package index)
    python tools/lock.py --check    # offline: exit 1 when a lock is stale or a line is not pinned with hashes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil

# subprocess runs uv: a fixed argument list (LOCKS), no shell
import subprocess  # nosec B404
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
FINGERPRINT_PREFIX = "# inputs-sha256: "
PYPROJECT_SECTIONS = ("local", "dev")  # the extras .venv installs


@dataclass(frozen=True)
class Lock:
    output: str  # relative to the repository
    sources: tuple[str, ...]  # requirement sources (.in files, pyproject.toml)
    constraints: tuple[str, ...] = ()  # other locks whose pins this one must keep
    options: tuple[str, ...] = ()  # the resolution's target

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.sources + self.constraints


LOCKS: tuple[Lock, ...] = (
    # What SAM's pip builder installs into the layer: Lambda's interpreter and platform.
    Lock(
        "layers/requirements.txt",
        ("layers/requirements.in",),
        options=("--python-version", "3.12", "--python-platform", "x86_64-manylinux2014"),
    ),
    # .venv: the package's extras, with the layer's pins as constraints (the same boto3/botocore as Lambda).
    Lock(
        "requirements/dev.txt",
        ("pyproject.toml", "requirements/dev.in"),
        constraints=("layers/requirements.txt",),
        options=("--universal", "--python-version", "3.11", *(f"--extra={extra}" for extra in PYPROJECT_SECTIONS)),
    ),
    Lock("requirements/sam.txt", ("requirements/sam.in",), options=("--universal", "--python-version", "3.11")),
    Lock("requirements/checkov.txt", ("requirements/checkov.in",), options=("--universal", "--python-version", "3.11")),
)


# ---- fingerprints ---------------------------------------------------------------------------------------


def _input_text(path: Path) -> str:
    """What in an input decides the lock: a requirements file whole; of pyproject.toml only the requirements."""
    if path.name != "pyproject.toml":
        return path.read_text(encoding="utf-8")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    project = data.get("project", {})
    relevant = {
        "build-system": data.get("build-system", {}).get("requires", []),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": {
            name: project.get("optional-dependencies", {}).get(name, []) for name in PYPROJECT_SECTIONS
        },
    }
    return json.dumps(relevant, sort_keys=True)


def fingerprint(lock: Lock, root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([lock.output, lock.sources, lock.constraints, lock.options]).encode())
    for name in lock.inputs:
        text = _input_text(root / name)
        if name in lock.constraints:  # a constraint lock counts by its pins, not by its own fingerprint line
            text = "\n".join(line for line in text.splitlines() if not line.startswith(FINGERPRINT_PREFIX))
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


# ---- reading a lock --------------------------------------------------------------------------------------

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)(?:\s*;\s*(?P<marker>.+))?$")
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    marker: str | None
    hashes: int


def _logical_lines(text: str) -> list[str]:
    """Requirement lines joined across their backslash continuations, comments dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            if current:
                lines.append(current.strip())
                current = ""
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append((current + line).strip())
        current = ""
    if current:
        lines.append(current.strip())
    return lines


def read_lock(text: str) -> tuple[list[Pin], list[str]]:
    """The pins of a lock, and every line that is not a `NAME==VERSION [; MARKER]` with sha256 hashes."""
    pins: list[Pin] = []
    problems: list[str] = []
    for line in _logical_lines(text):
        requirement, *options = re.split(r"\s+(?=--)", line)
        match = _PIN.match(requirement.strip())
        if not match:
            problems.append(f"not pinned with ==: {line[:100]}")
            continue
        hashes = [option for option in options if _HASH.match(option)]
        if not hashes or len(hashes) != len(options):
            problems.append(f"{requirement}: every line needs --hash=sha256:... and nothing else")
            continue
        name = canonicalize_name(match["name"])
        pins.append(Pin(name, match["version"], match["marker"], len(hashes)))
    return pins, problems


def _requirements_of(path: Path) -> list[Requirement]:
    if path.name == "pyproject.toml":
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
        texts = list(project.get("dependencies", []))
        for section in PYPROJECT_SECTIONS:
            texts.extend(project.get("optional-dependencies", {}).get(section, []))
    else:
        texts = [line for line in _logical_lines(path.read_text(encoding="utf-8")) if not line.startswith("-")]
    return [Requirement(text) for text in texts]


def check(root: Path = ROOT, locks: tuple[Lock, ...] = LOCKS) -> list[str]:
    """Everything wrong with the locks, offline: stale, not fully pinned with hashes, or not what the inputs ask."""
    problems: list[str] = []
    pinned: dict[str, dict[str, str]] = {}
    for lock in locks:
        path = root / lock.output
        if not path.is_file():
            problems.append(f"{lock.output}: missing (make lock)")
            continue
        text = path.read_text(encoding="utf-8")
        recorded = next(
            (line[len(FINGERPRINT_PREFIX) :] for line in text.splitlines() if line.startswith(FINGERPRINT_PREFIX)), ""
        )
        if recorded.strip() != fingerprint(lock, root):
            problems.append(f"{lock.output}: stale, its inputs {', '.join(lock.inputs)} changed since (make lock)")
        pins, bad_lines = read_lock(text)
        problems.extend(f"{lock.output}: {problem}" for problem in bad_lines)
        versions = {pin.name: pin.version for pin in pins if pin.marker is None}
        pinned[lock.output] = versions
        for source in lock.sources:
            try:
                requirements = _requirements_of(root / source)
            except InvalidRequirement as exc:
                problems.append(f"{source}: {exc}")
                continue
            for requirement in requirements:
                name = canonicalize_name(requirement.name)
                candidates = [pin.version for pin in pins if pin.name == name]
                if requirement.marker is not None and not candidates:
                    continue  # a requirement for another platform or interpreter
                if not any(requirement.specifier.contains(version, prereleases=True) for version in candidates):
                    problems.append(f"{lock.output}: {requirement} ({source}) is not what the lock pins {candidates}")
        for constraint in lock.constraints:
            for shared, version in pinned.get(constraint, {}).items():
                if versions.get(shared, version) != version:
                    problems.append(f"{lock.output}: {shared}=={versions[shared]}, but {constraint} pins {version}")
    return problems


# ---- writing -------------------------------------------------------------------------------------------


def compile_lock(lock: Lock, root: Path = ROOT) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is not installed (make setup installs it into .venv)")
    command = [
        uv,
        "pip",
        "compile",
        "--quiet",
        "--generate-hashes",
        "--custom-compile-command",
        "make lock",
        *lock.options,
        *(argument for constraint in lock.constraints for argument in ("--constraint", constraint)),
        *lock.sources,
        "--output-file",
        lock.output,
    ]
    (root / lock.output).parent.mkdir(parents=True, exist_ok=True)
    # uv from .venv (or PATH), the arguments from LOCKS
    subprocess.run(command, cwd=root, check=True)  # noqa: S603  # nosec B603
    path = root / lock.output
    path.write_text(
        f"{FINGERPRINT_PREFIX}{fingerprint(lock, root)}\n{path.read_text(encoding='utf-8')}", encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check the locks (offline)")
    args = parser.parse_args(argv)
    if not args.check:
        for lock in LOCKS:  # in order: the dev lock is constrained by the layer's
            compile_lock(lock)
            print(f"{lock.output}: {len(read_lock((ROOT / lock.output).read_text(encoding='utf-8'))[0])} pins")
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
