"""Slack, directly: a Block Kit message posted to an incoming webhook whose URL lives in Secrets Manager.

The URL is a credential (anyone holding it can post to the channel). It is read at run time through
Powertools' SecretsProvider (cached for ``CACHE_SECONDS``), held only in memory, and never put in an
environment variable, a log line, an error message or the incident record: errors are reported by kind
("HTTP 500", "timed out"), and any text that could carry the URL is scrubbed before it is kept.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from typing import Any

CACHE_SECONDS = 300
TIMEOUT_SECONDS = 3.0
# Slack's incoming webhooks are https; plain http is accepted only on the loopback (a local test server).
ALLOWED_PREFIXES = ("https://", "http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")


class _Redact(logging.Filter):
    """botocore logs request parameters and response bodies at DEBUG (GetSecretValue's body is the URL): if
    anyone turns that on, the webhook URL is masked in those records before any handler sees them."""

    secrets: set[str] = set()
    # a secret value in a GetSecretValue response or a request, and any Slack webhook URL
    PATTERN = re.compile(r"""(["']SecretString["']\s*:\s*)(["'])(?:\\.|(?!\2).)*\2|https://hooks\.slack\.com/\S+""")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = self.PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}***{m.group(2)}" if m.group(1) else "***", text)
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if masked != text:
            record.msg, record.args = masked, ()
        return True


_REDACT = _Redact()
for _name in ("botocore.endpoint", "botocore.parsers", "botocore.hooks", "botocore.auth"):
    logging.getLogger(_name).addFilter(_REDACT)


class SlackError(RuntimeError):
    """The message did not reach Slack. The text never contains the webhook URL."""


class SlackWebhook:
    def __init__(self, secretsmanager: Any, secret_id: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.secret_id = secret_id
        self.timeout = timeout
        self._secretsmanager = secretsmanager
        self._provider: Any = None

    def _url(self) -> str:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        if self._provider is None:
            self._provider = SecretsProvider(boto3_client=self._secretsmanager)
        try:
            value = str(self._provider.get(self.secret_id, max_age=CACHE_SECONDS)).strip()
        except GetParameterError as exc:
            cause = exc.__cause__ or exc
            raise SlackError(
                f"the webhook secret {self.secret_id} could not be read ({type(cause).__name__})"
            ) from None
        if value.startswith("{"):  # also accept {"url": "..."} as the secret's value
            try:
                value = str(json.loads(value).get("url", ""))
            except (ValueError, AttributeError):
                value = ""
        if value:
            _Redact.secrets.add(value)
        if not value.startswith(ALLOWED_PREFIXES):
            raise SlackError(f"the value of secret {self.secret_id} is not an https webhook URL")
        return value

    def post(self, payload: dict[str, Any]) -> None:
        url = self._url()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above (https, or http on loopback)
            url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # nosec B310
                status = response.status
        except urllib.error.HTTPError as exc:
            raise SlackError(f"Slack answered HTTP {exc.code}") from None
        except TimeoutError:
            raise SlackError(f"Slack did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise SlackError(f"Slack did not answer within {self.timeout:g} s") from None
            raise SlackError(f"Slack could not be reached ({type(reason).__name__})") from None
        except OSError as exc:
            raise SlackError(f"Slack could not be reached ({type(exc).__name__})") from None
        if not 200 <= status < 300:
            raise SlackError(f"Slack answered HTTP {status}")
