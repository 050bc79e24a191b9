"""The embedded AWS emulator (moto) and the deployer that puts the controller into it.

Only the CLI and the tests import this package; it needs the ``local`` extra (moto). Lambda code never
imports it.
"""

from ..aws import wait_for_execution
from .core import ACCOUNT, REGION, Emulator, InAccount, free_port
from .deployer import DeployError, Deployment, deploy, deploy_member, parse_overrides

__all__ = [
    "ACCOUNT",
    "REGION",
    "DeployError",
    "Deployment",
    "Emulator",
    "InAccount",
    "deploy",
    "deploy_member",
    "free_port",
    "parse_overrides",
    "wait_for_execution",
]
