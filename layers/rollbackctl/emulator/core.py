"""The embedded AWS: moto in this process (decorator mode) or served on 127.0.0.1 (``local-aws``)."""

from __future__ import annotations

import json
import os
import socket
import threading
from typing import Any

import boto3
import botocore.session
from moto import mock_aws
from moto.core.config import default_user_config

from ..aws import BOTO_CONFIG
from . import patches, progress
from .runtime import InProcessRuntime

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
SFN_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # nosec B105 - moto's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """Start with ``with Emulator() as aws:``; ``aws.client("lambda")`` talks to it.

    ``port=None`` keeps everything in this process (tests, ``demo``); a port serves it over HTTP so
    other processes (plain boto3, ``rollbackctl run``) can use it. ``time_scale`` shortens Wait states
    and Retry intervals (1.0 = real seconds, as AWS; only the test suite uses less); it leaves the state
    manager's "time" transitions in real seconds (see ``progress.py``).
    """

    def __init__(self, port: int | None = None, time_scale: float = 1.0, region: str = REGION) -> None:
        self.port = port
        self.region = region
        self.time_scale = time_scale
        self.endpoint_url = f"http://127.0.0.1:{port}" if port else None
        self.runtime = InProcessRuntime(region, self.endpoint_url)
        self._mock: Any = None
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._session: boto3.session.Session | None = None
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._credentials: dict[str, dict[str, str]] = {}
        self._clients_lock = threading.Lock()

    def _set_env(self, **values: str) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def start(self) -> Emulator:
        default_user_config.update(SFN_CONFIG)  # type: ignore[arg-type]
        # AWS_REGION and AWS_SESSION_TOKEN too, so that a function's cold start (runtime.py) only ever sets them
        no_token = ""  # nosec B105 - no session token: the fake credentials are long-term keys
        self._set_env(AWS_DEFAULT_REGION=self.region, AWS_REGION=self.region, AWS_SESSION_TOKEN=no_token)
        self._set_env(**FAKE_CREDENTIALS)
        if self.port is None:
            self._mock = mock_aws(config=SFN_CONFIG)  # type: ignore[arg-type]
            self._mock.start()
        else:
            import moto.moto_server.werkzeug_app as werkzeug_app
            from moto.server import ThreadedMotoServer

            # moto's server answers CORS preflights from any origin, which would let any web page the user opens
            # call the emulator (and the controller in it). MOTO_DISABLE_GLOBAL_CORS turns that off; moto reads it
            # once at import, so the module's copy is set too.
            self._set_env(MOTO_DISABLE_GLOBAL_CORS="true")
            werkzeug_app.DISABLE_GLOBAL_CORS = True
            # The Step Functions executor calls Lambda at localhost:MOTO_PORT (5000 unless told).
            self._set_env(MOTO_PORT=str(self.port))
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.start()
        patches.apply(self.runtime, self.time_scale)
        # Operations that take time move by themselves (progress.py): local-aws as AWS does, 5 s a step until
        # set otherwise; in process they stay where the tests and the demo put them until a transition is set.
        progress.start(local_aws=self.port is not None)
        return self

    def stop(self) -> None:
        progress.stop()
        patches.drain()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def session(self) -> boto3.session.Session:
        if self._session is None:
            self._session = boto3.session.Session(botocore_session=_shared_botocore(), region_name=self.region)
        return self._session

    def client(self, service: str, account: str | None = None, region: str | None = None) -> Any:
        """A client acting in ``account`` and ``region`` (default: the emulator's own, ``ACCOUNT`` and its region).

        One per (service, account, region): clients are thread-safe and building one costs ~100 ms. Another
        account is reached as AWS Organizations lets its management account reach the accounts it creates: through
        sts:AssumeRole of the account's ``OrganizationAccountAccessRole`` (made here the first time, trusting this
        emulator's own account); moto then acts in the role's account for those credentials.
        """
        account = account or ACCOUNT
        region = region or self.region
        key = (service, account, region)
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = self.session().client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=BOTO_CONFIG,
                    **self._credentials_for(account),
                )
            return self._clients[key]

    def _credentials_for(self, account: str) -> dict[str, str]:
        if account == ACCOUNT:
            return {
                "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            }
        if account not in self._credentials:
            role_arn = _organization_access_role(account)
            sts = self.session().client(
                "sts",
                endpoint_url=self.endpoint_url,
                config=BOTO_CONFIG,
                **self._credentials_for(ACCOUNT),
            )
            session = sts.assume_role(RoleArn=role_arn, RoleSessionName="emulator")["Credentials"]
            self._credentials[account] = {
                "aws_access_key_id": session["AccessKeyId"],
                "aws_secret_access_key": session["SecretAccessKey"],
                "aws_session_token": session["SessionToken"],
            }
        return self._credentials[account]


# AWS Organizations User Guide, "Accessing member accounts in your organization": an account the organization
# creates gets this role, which trusts the management account (here: the emulator's own account).
ORGANIZATION_ACCESS_ROLE = "OrganizationAccountAccessRole"


def _organization_access_role(account: str) -> str:
    """The account's OrganizationAccountAccessRole, created as AWS Organizations creates it (the emulator runs
    moto in this process, so its IAM is at hand before anyone can act in the new account)."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["aws"]
    try:
        return str(iam.get_role(ORGANIZATION_ACCESS_ROLE).arn)
    except Exception:  # moto's NotFoundException: the account has never been reached
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = iam.create_role(
            role_name=ORGANIZATION_ACCESS_ROLE,
            assume_role_policy_document=json.dumps(trust),
            path="/",
            permissions_boundary=None,
            description="Created by the emulator as AWS Organizations creates it in a new account",
            tags=[],
            max_session_duration="3600",
        )
        return str(role.arn)


class InAccount:
    """The emulator as seen from one account and region: what the estate helpers take (``client``, ``region``)."""

    def __init__(self, emulator: Emulator, account: str, region: str | None = None) -> None:
        self.emulator, self.account, self.region = emulator, account, region or emulator.region

    def client(self, service: str) -> Any:
        return self.emulator.client(service, self.account, self.region)


_LOADER: list[Any] = []


def _shared_botocore() -> botocore.session.Session:
    """A botocore session sharing one loader per process: the loader caches the service models every new client
    would reload. (Not one session per process: each boto3 Session registers its handlers on its botocore session
    again, and an S3 client class then gets boto3's transfer methods injected twice, which boto3 refuses.)"""
    session = botocore.session.get_session()
    if _LOADER:
        session.register_component("data_loader", _LOADER[0])
    else:
        _LOADER.append(session.get_component("data_loader"))
    return session
