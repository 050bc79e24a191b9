"""Slack, directly: a Block Kit message posted to an incoming webhook whose URL lives in Secrets Manager.

The URL is a credential (anyone holding it can post to the channel). It is read at run time through
Powertools' SecretsProvider (cached for ``CACHE_SECONDS``), held only in memory, and never put in an
environment variable, a log line, an error message or the incident record: errors are reported by kind
("the webhook secret ... is not a Slack webhook URL", "Slack answered HTTP 500", "Slack did not answer within
3 s"), and every exception the post can raise is caught and replaced by its kind, so no exception text (which
can quote the URL: http.client.InvalidURL does) goes anywhere.

What is accepted (:func:`is_webhook_url`): ``https://hooks.slack.com/services/...`` (or a host named in the
stack's ``SlackWebhookHosts``), on the default port, with no user or password, no query or fragment, and
nothing but printable ASCII: no whitespace or control character anywhere. ``http://127.0.0.1:PORT/services/...``
only where the embedded emulator says so (``config.EMULATOR_SLACK_LOOPBACK``). Redirects are never followed:
a 3xx is a failure ("Slack answered HTTP 302"), so the message and its URL go nowhere else.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection
from typing import Any

CACHE_SECONDS = 300
TIMEOUT_SECONDS = 3.0
SLACK_HOST = "hooks.slack.com"
PATH_PREFIX = "/services/"
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")


def is_webhook_url(value: str, hosts: Collection[str] = (), loopback: bool = False) -> bool:
    """A Slack incoming-webhook URL that may be posted to (see the module's docstring)."""
    if not _PRINTABLE_ASCII.fullmatch(value):
        return False
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return False
    host, netloc = parts.hostname or "", parts.netloc.lower()
    if "@" in netloc or parts.query or parts.fragment or not parts.path.startswith(PATH_PREFIX):
        return False
    if parts.scheme == "https":
        return host in {SLACK_HOST, *hosts} and netloc in (host, f"{host}:443")
    if parts.scheme == "http" and loopback:
        return host == "127.0.0.1" and port is not None and port > 0 and netloc == f"127.0.0.1:{port}"
    return False


class _Redact(logging.Filter):
    """botocore logs request parameters and response bodies at DEBUG (GetSecretValue's body is the URL): if
    anyone turns that on, the webhook URL is masked in those records before any handler sees them."""

    secrets: set[str] = set()
    # a secret value in a GetSecretValue response or a request (its quotes escaped once in the JSON, twice in a
    # bytes repr: any run of backslashes escapes the character after it), and any Slack webhook URL
    PATTERN = re.compile(r"""(["']SecretString["']\s*:\s*)(["'])(?:\\+.|(?!\2).)*\2|https://hooks\.slack\.com/\S+""")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = text
        for secret in sorted(self.secrets, key=len, reverse=True):  # the whole value first, then what it holds
            masked = masked.replace(secret, "***")
        masked = self.PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}***{m.group(2)}" if m.group(1) else "***", masked)
        if masked != text:
            record.msg, record.args = masked, ()
        return True


_REDACT = _Redact()


def remember_secret(*values: str) -> None:
    """Mask these values (a secret just read) in every botocore log record from now on (not "" nor "x")."""
    _Redact.secrets.update(v for v in values if len(v) >= 8)


for _name in ("botocore.endpoint", "botocore.parsers", "botocore.hooks", "botocore.auth"):
    logging.getLogger(_name).addFilter(_REDACT)


class SlackError(RuntimeError):
    """The message did not reach Slack. The text never contains the webhook URL."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is not followed: urllib then raises it as an HTTPError (the answer Slack gave)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _failure(exc: BaseException, timeout: float) -> str:
    """What went wrong, by kind only: an exception's text can quote the URL, so none of it is kept."""
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()
        return f"Slack answered HTTP {exc.code}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"Slack did not answer within {timeout:g} s"
    return f"Slack could not be reached ({type(reason).__name__})"


class SlackWebhook:
    def __init__(
        self,
        secretsmanager: Any,
        secret_id: str,
        timeout: float = TIMEOUT_SECONDS,
        hosts: Collection[str] = (),
        loopback: bool = False,
    ) -> None:
        self.secret_id = secret_id
        self.timeout = timeout
        self.hosts = frozenset(hosts)
        self.loopback = loopback
        self._secretsmanager = secretsmanager
        self._provider: Any = None

    def _url(self) -> str:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        if self._provider is None:
            self._provider = SecretsProvider(boto3_client=self._secretsmanager)
        unreadable = ""
        try:
            raw = str(self._provider.get(self.secret_id, max_age=CACHE_SECONDS))
        except GetParameterError as exc:
            unreadable = type(exc.__cause__ or exc).__name__
        if unreadable:
            raise SlackError(f"the webhook secret {self.secret_id} could not be read ({unreadable})")
        value = raw.strip()
        if value.startswith("{"):  # also accept {"url": "..."} as the secret's value
            try:
                value = str(json.loads(value).get("url", "")).strip()
            except (ValueError, AttributeError):
                value = ""
        remember_secret(raw, raw.strip(), value)
        if not is_webhook_url(value, self.hosts, self.loopback):
            raise SlackError(f"the webhook secret {self.secret_id} is not a Slack webhook URL")
        return value

    def post(self, payload: dict[str, Any]) -> None:
        url = self._url()
        failure = ""
        try:
            request = urllib.request.Request(  # noqa: S310 - is_webhook_url: https, or http on the emulator's loopback
                url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
            )
            with _OPENER.open(request, timeout=self.timeout) as response:
                status = response.status
        except Exception as exc:  # anything at all (InvalidURL, UnicodeError, socket errors...): by kind only
            failure = _failure(exc, self.timeout)
        # raised here, outside the except: the SlackError carries no context that could quote the URL
        if failure:
            raise SlackError(failure)
        if not 200 <= status < 300:
            raise SlackError(f"Slack answered HTTP {status}")
