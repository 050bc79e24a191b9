"""Where a workflow's time goes, alarm -> alias back: a wall-clock sampling profile of every thread.

cProfile and pyinstrument follow one thread; the workflow runs on the emulator's threads (EventBridge
delivery, the Step Functions worker, the Lambda handlers). A sampler thread reads every thread's stack each
millisecond (``sys._current_frames``); samples of threads that wait (locks, sleeps, events) are dropped, and
only samples inside an incident's alarm -> alias-back window are kept. Each sample is credited to every
component on its stack (inclusive) and to the package of its innermost frame (self).

``python -m bench.profile [--incidents 20]`` (not part of ``make bench``: sampling, and the short GIL switch
interval it needs to sample fairly, slow what it watches; the shares are what it is for).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from typing import Any

from bench import calls

RECORDER = calls.install()

from bench import common, restore  # noqa: E402

# (component, path fragment, function name or "") checked against every frame of a sample's stack
COMPONENTS = [
    ("emulator: ASL parse per execution (moto, ANTLR)", "stepfunctions/parser/asl/parse", ""),
    ("emulator: ASL parse per execution (moto, ANTLR)", "antlr4/", ""),
    ("emulator: boto3 client built per Lambda task (moto)", "stepfunctions/parser/asl/utils/boto_client", ""),
    ("botocore: client creation", "botocore/session.py", "create_client"),
    ("moto: DynamoDB", "moto/dynamodb/", ""),
    ("moto: Lambda", "moto/awslambda/", ""),
    ("moto: CloudWatch / EventBridge", "moto/cloudwatch/", ""),
    ("moto: CloudWatch / EventBridge", "moto/events/", ""),
    ("moto: Step Functions evaluation", "moto/stepfunctions/", ""),
    ("moto: request dispatch", "moto/core/", ""),
    ("emulator glue (rollbackctl.emulator)", "rollbackctl/emulator/", ""),
    ("handlers: rollbackctl domain code", "layers/rollbackctl/", ""),
    ("handlers: Powertools", "aws_lambda_powertools/", ""),
    ("botocore: request/response (serialize, sign, parse)", "botocore/", ""),
]
WAITING = {"wait", "acquire", "sleep", "select", "poll", "_wait_for_tstate_lock", "join", "get"}


def _leaf_package(filename: str) -> str:
    path = filename.replace("\\", "/")
    for marker in ("site-packages/", "layers/", "lib/python3"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            parts = rest.split("/")
            if marker.startswith("lib/python3"):
                return f"stdlib:{parts[1].removesuffix('.py')}" if len(parts) > 1 else "stdlib"
            return parts[0].removesuffix(".py") if marker != "layers/" else "/".join(parts[:2])
    return path.rsplit("/", 1)[-1]


class Sampler:
    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.samples: list[tuple[float, tuple[str, ...], str]] = []  # (time, components, leaf package)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        # The sampler only runs when it holds the GIL. With the default 5 ms switch interval it would mostly
        # wake where another thread releases the GIL (a syscall, os.urandom in uuid4, SSL setup) and see
        # those places far too often; a short interval hands it the GIL on time, wherever the others are.
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(self.interval / 10)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        sys.setswitchinterval(self._switch)

    def _run(self) -> None:
        me, main = threading.get_ident(), threading.main_thread().ident
        while not self._stop.is_set():
            now = time.perf_counter()
            for ident, frame in sys._current_frames().items():
                if ident in (me, main) or frame.f_code.co_name in WAITING:
                    continue
                found: list[str] = []
                leaf = _leaf_package(frame.f_code.co_filename)
                f: Any = frame
                while f is not None:
                    filename, name = f.f_code.co_filename.replace("\\", "/"), f.f_code.co_name
                    for component, fragment, function in COMPONENTS:
                        if fragment in filename and (not function or function == name) and component not in found:
                            found.append(component)
                            break
                    f = f.f_back
                self.samples.append((now, tuple(found), leaf))
            self._stop.wait(self.interval)


def main(argv: list[str] | None = None) -> None:
    from rollbackctl.emulator import Emulator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20)
    args = parser.parse_args(argv)
    windows: dict[str, list[tuple[float, float]]] = {"workflow": [], "floor_a": []}
    with Emulator(time_scale=common.TIME_SCALE) as aws:
        RECORDER.wrap_runtime(aws.runtime)
        controller = common.deploy_controller(aws)
        floor = restore.deploy_floor(aws, controller)
        with Sampler() as sampler:
            for n in range(args.incidents + 1):
                wf, fa = f"wf-{n:03d}", f"fa-{n:03d}"
                common.canary(aws, wf)
                common.canary(aws, fa)
                common.wait_idle(aws, [controller.state_machine, floor.state_machine])
                start = time.perf_counter()
                sample = restore._workflow(aws, controller, RECORDER, wf)
                if n:  # the first is the cold start
                    windows["workflow"].append((start, start + sample.seconds))
                start = time.perf_counter()
                sample = restore._floor_a(aws, floor, RECORDER, fa)
                if n:
                    windows["floor_a"].append((start, start + sample.seconds))
    for kind, spans in windows.items():
        inside = [s for s in sampler.samples if any(a <= s[0] <= b for a, b in spans)]
        total = len(inside) or 1
        wall = sum(b - a for a, b in spans) / len(spans) * 1000
        print(f"\n{kind}: {len(spans)} incidents, alarm -> alias back p-mean {wall:.1f} ms (sampled), {total} samples")
        inclusive = Counter(c for _, components, _ in inside for c in set(components))
        print("  inclusive (a sample counts for every component on its stack):")
        for component, count in inclusive.most_common():
            print(f"    {100 * count / total:5.1f}%  {component}")
        print("  self (innermost frame's package), top 12:")
        for package, count in Counter(leaf for _, _, leaf in inside).most_common(12):
            print(f"    {100 * count / total:5.1f}%  {package}")


if __name__ == "__main__":
    main()
