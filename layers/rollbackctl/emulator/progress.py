"""Operations that take time: they progress by themselves through moto's state manager, as AWS's do.

AWS moves a deployment through its statuses on its own and tells EventBridge when it is done. Here each such
operation is an ``Operation``: a ``moto.moto_api._internal.managed_state_model.ManagedState`` whose status
progresses by the transition set for its model (``moto.moto_api.state_manager.set_transition(MODEL, T)``
in process, ``POST /moto-api/state-manager/set-transition`` with ``{"model_name": MODEL, "transition": T}``
on ``local-aws``; T is ``{"progression": "immediate"}``, ``{"progression": "time", "seconds": S}`` or
``{"progression": "manual", "times": N}``, where N counts the describe calls that read the operation).

- Every status change, however it happens (a reader of ``status``, the ticker, a helper or an API call that
  sets ``status``), calls the operation's ``on_status(old, new)`` once per step along its transitions. That
  hook applies the service's side effects and, at a final status, queues the service's own event
  (``emit``); queued events go on the bus once no operation's lock is held.
- ONE ticker thread (started and stopped with the ``Emulator``) reads every in-flight operation's status
  every ``TICK`` seconds, so time-based progressions fire, and their events reach EventBridge within a
  second, even when nobody describes the resource. Finished operations leave the registry.
- One re-entrant lock guards every operation: moto's server is threaded, and the ticker runs beside it.

Default transitions (until a test or user sets one): ``local-aws`` (an ``Emulator`` with a port) uses
``{"progression": "time", "seconds": 5}`` for every model, as DESIGN.md says. In process (the test suite,
``demo``), an operation stays in progress until a helper moves it or a test sets a transition:
``{"progression": "manual", "times": HELD}``. "manual" is the only progression of moto's that never moves by
itself; HELD is so large that no run describes an operation that often. That keeps the test suite's and the
demo's estate exactly where their helpers put it.

The emulator's fast clock (``patches.Clock.scale``, 0.001 in the test suite) does not scale "time"
progressions: a transition is an explicit, user-visible setting in seconds (moto's own contract), and a test
that wants speed sets ``immediate`` or a small ``seconds``. The fast clock stays what it was, the Wait states'
and Retry intervals' clock.

A new model plugs in by subclassing ``Operation`` with ``MODEL`` (and adding it to ``MODELS``), passing its
transitions to ``__init__``, calling ``track()`` once its fields are set and overriding ``on_status``;
``restart`` puts it on another chain (a rollback), ``finish`` ends it at once, setting ``status`` moves it by hand.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from moto.moto_api import state_manager
from moto.moto_api._internal.managed_state_model import ManagedState

# The models of DESIGN.md's "Operations that take time, in the emulator" (each gets a default transition).
MODELS = (
    "codedeploy::deployment",
    "cloudformation::stack",
    "codepipeline::execution",
    "ecs::deployment",
    "elasticbeanstalk::environment",
)
LOCAL_AWS_TRANSITION: dict[str, Any] = {"progression": "time", "seconds": 5}
HELD = 2**62
IN_PROCESS_TRANSITION: dict[str, Any] = {"progression": "manual", "times": HELD}
TICK = 0.25  # seconds between the ticker's reads (events reach the bus within a second of a final status)

LOCK = threading.RLock()
_local = threading.local()
_outbox: list[Callable[[], None]] = []


def register_defaults(local_aws: bool) -> None:
    transition = LOCAL_AWS_TRANSITION if local_aws else IN_PROCESS_TRANSITION
    for model in MODELS:
        state_manager.register_default_transition(model, dict(transition))


class Operation(ManagedState):
    """One operation that takes time. Subclasses set ``MODEL`` and override ``on_status``."""

    MODEL: ClassVar[str] = ""
    _status: str  # ManagedState's current status (set by its __init__)

    def __init__(self, transitions: list[tuple[str | None, str]]) -> None:
        ManagedState.__init__(self, self.MODEL, transitions)

    def track(self) -> None:
        """Start moving by itself (call it once the subclass's own fields are set)."""
        REGISTRY.add(self)

    # --- the hook ------------------------------------------------------------------------------------------

    def on_status(self, old: str, new: str) -> None:
        """Apply the service's side effects of one step from ``old`` to ``new`` (under ``LOCK``)."""

    def emit(
        self, account: str, region: str, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]
    ) -> None:
        """Queue the service's own event for the default bus (put there once no operation lock is held)."""
        from moto.events.models import events_backends

        entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "Resources": resources}
        _outbox.append(lambda: events_backends[account][region].put_events([entry]))

    # --- status --------------------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        with held():
            old = self._status
            new = ManagedState.status.fget(self)  # progresses by the model's transition
            if new != old:
                self._walk(old, new)
            return str(new)

    @status.setter
    def status(self, value: str) -> None:
        """Move the operation by hand (a helper, or an API call such as a stop): the steps' side effects apply."""
        with held():
            old = self._status
            if value == old:
                return
            self._status = value
            self._restart_clock()
            self._walk(old, value)

    def advance(self) -> None:
        """One describe call read it (what a "manual" transition counts)."""
        with held():
            ManagedState.advance(self)

    def restart(self, transitions: list[tuple[str | None, str]], status: str) -> None:
        """Put the operation on another chain of statuses (e.g. a rollback), starting at ``status``."""
        with held():
            self._transitions = transitions
            self.status = status
            REGISTRY.add(self)

    def finish(self) -> None:
        """Move it to the end of its chain at once, as an ``immediate`` transition would."""
        with held():
            self.status = str(self._get_last_status(self._status))

    @property
    def done(self) -> bool:
        """True once nothing can move it on (a final status)."""
        return bool(self._get_next_status(self._status) == self._status)

    def _restart_clock(self) -> None:
        self._tick = 0
        self._time_progressed = datetime.now()

    def _walk(self, old: str, new: str) -> None:
        """``on_status`` once per step from ``old`` to ``new`` along the transitions (or one step if off them)."""
        path, current = [old], old
        while current != new:
            following = self._get_next_status(current)
            if following == current:
                path = [old, new]
                break
            path.append(following)
            current = following
        for before, after in itertools.pairwise(path):
            self.on_status(before, after)


class _Held:
    """LOCK, plus the events queued meanwhile put on the bus when the outermost holder lets go."""

    def __enter__(self) -> None:
        LOCK.acquire()
        _local.depth = getattr(_local, "depth", 0) + 1

    def __exit__(self, *exc: object) -> None:
        _local.depth -= 1
        outermost = _local.depth == 0
        pending = []
        if outermost:
            pending = list(_outbox)
            _outbox.clear()
        LOCK.release()
        for publish in pending:  # outside the lock: a rule may start a workflow that calls back in
            publish()


def held() -> _Held:
    """Hold the operations' lock; events queued meanwhile go on the bus when the outermost holder lets go."""
    return _Held()


class Registry:
    """The operations in flight."""

    def __init__(self) -> None:
        self._operations: list[Operation] = []

    def add(self, operation: Operation) -> None:
        with held():
            if operation not in self._operations:
                self._operations.append(operation)

    def discard(self, operation: Operation) -> None:
        with held():
            if operation in self._operations:
                self._operations.remove(operation)

    def in_flight(self) -> list[Operation]:
        with held():
            return list(self._operations)

    def tick(self) -> None:
        """Read every operation's status (time-based progressions fire); drop the finished ones."""
        for operation in self.in_flight():
            try:
                with held():
                    operation.status  # noqa: B018 - reading progresses it
                    if operation.done and operation in self._operations:
                        self._operations.remove(operation)
            except Exception:  # one operation that fails to progress must not stop every other one
                logging.getLogger(__name__).exception("%s failed to progress", operation.model_name)

    def clear(self) -> None:
        with held():
            self._operations.clear()


REGISTRY = Registry()


class Ticker:
    """The one background thread that keeps operations moving while the emulator runs."""

    def __init__(self, interval: float = TICK) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="emulator-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            REGISTRY.tick()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


_ticker = Ticker()


def start(local_aws: bool) -> None:
    """With the emulator: the default transitions for its mode, and the ticker."""
    register_defaults(local_aws)
    _ticker.start()


def stop() -> None:
    """The emulator stops: no ticker, no operations, and every transition a test or user set is forgotten."""
    _ticker.stop()
    REGISTRY.clear()
    for model in MODELS:
        state_manager.unset_transition(model)
    register_defaults(local_aws=False)


register_defaults(local_aws=False)
