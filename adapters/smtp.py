"""The `Mailer` port over SMTP (the standard library's smtplib): plain-text email, STARTTLS or
implicit TLS, a 10-second timeout, and SMTP's answers mapped onto `ExternalServiceError`.

A 4xx answer or a connection that fails is retryable (the server or the network may be back
soon); a 5xx answer is a permanent rejection (a bad address, a refused sender, bad credentials)
and retrying it would only be refused again. The `Message-ID` comes from the caller's stable
key, so a message sent again after a lost answer is recognisably the same message.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from workflows.ports import ExternalServiceError, InvalidRequest

TIMEOUT_SECONDS = 10.0
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None
    security: str = "none"  # none | starttls | tls (implicit, `smtps://`)

    @classmethod
    def from_url(cls, url: str, *, sender: str | None) -> SmtpConfig:
        """`smtp://user:pass@host:587?starttls=true` or `smtps://user:pass@host:465`."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise InvalidRequest("SMTP_URL must look like smtp://user:pass@host:587?starttls=true "
                                 "or smtps://user:pass@host:465")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        starttls = query.get("starttls", "").lower() in _TRUE
        security = "tls" if parts.scheme == "smtps" else "starttls" if starttls else "none"
        return cls.build(host=parts.hostname, port=parts.port, security=security,
                         user=unquote(parts.username) if parts.username else None,
                         password=unquote(parts.password) if parts.password else None,
                         sender=sender)

    @classmethod
    def build(cls, *, host: str, port: int | None, security: str, user: str | None,
              password: str | None, sender: str | None) -> SmtpConfig:
        default_port = {"tls": 465, "starttls": 587}.get(security, 25)
        fallback = user if user and "@" in user else f"firebell@{host}"
        return cls(host=host, port=port or default_port, sender=sender or fallback, user=user,
                   password=password, security=security)


class SmtpMailer:
    """Sends one plain-text message per call, over a connection of its own."""

    def __init__(self, config: SmtpConfig, *, timeout: float = TIMEOUT_SECONDS,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.timeout = timeout
        # The system's trusted roots by default; tests hand in a context trusting their own CA.
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send_email(self, *, to: list[str], subject: str, body: str, message_id: str) -> None:
        if not to:
            return
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = ", ".join(to)
        message["Subject"] = _one_line(subject)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = self._message_id(message_id)
        message.set_content(body)
        where = f"SMTP {self.config.host}:{self.config.port}"
        try:
            with self._connect() as smtp:
                if self.config.user:
                    smtp.login(self.config.user, self.config.password or "")
                refused = smtp.send_message(message, to_addrs=to)
        except smtplib.SMTPRecipientsRefused as error:  # every recipient refused
            codes = [code for code, _ in error.recipients.values()]
            raise ExternalServiceError(
                f"{where} refused every recipient: {_refusals(error.recipients)}",
                retryable=any(400 <= code < 500 for code in codes)) from error
        except smtplib.SMTPResponseException as error:  # a coded answer: 4xx again later, 5xx never
            text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) \
                else str(error.smtp_error)
            raise ExternalServiceError(f"{where} answered {error.smtp_code} {text}",
                                       retryable=400 <= error.smtp_code < 500) from error
        except smtplib.SMTPNotSupportedError as error:  # e.g. no STARTTLS: a setting to fix
            raise ExternalServiceError(f"{where}: {error}", retryable=False) from error
        except ssl.SSLCertVerificationError as error:  # an untrusted certificate stays untrusted
            raise ExternalServiceError(f"{where}: {error}", retryable=False) from error
        except (smtplib.SMTPException, OSError) as error:  # refused, reset, timed out, DNS
            raise ExternalServiceError(f"{where} unreachable: {error}", retryable=True) from error
        if refused:
            # Some got it: sending again would repeat it to them, so this is said, not retried.
            raise ExternalServiceError(
                f"{where} delivered to {len(to) - len(refused)} of {len(to)}, refused "
                f"{_refusals(refused)}", retryable=False)

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        if config.security == "tls":
            return smtplib.SMTP_SSL(config.host, config.port, timeout=self.timeout,
                                    context=self.ssl_context)
        smtp = smtplib.SMTP(config.host, config.port, timeout=self.timeout)
        try:
            if config.security == "starttls":
                smtp.ehlo()
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _message_id(self, key: str) -> str:
        domain = self.config.sender.rpartition("@")[2] or self.config.host
        return f"<{re.sub(r'[^A-Za-z0-9.!#$%&*+/=?^_`{|}~-]', '.', key)}@{domain}>"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{address} ({code} {reply.decode(errors='replace')})"
                     for address, (code, reply) in refused.items())


def mailer_from_settings(*, url: str | None, host: str | None, port: int | None,
                         user: str | None, password: str | None, starttls: bool,
                         sender: str | None) -> SmtpMailer | None:
    """The mailer `SMTP_URL` (or `SMTP_HOST` and friends) describe; None when neither is set."""
    if url:
        return SmtpMailer(SmtpConfig.from_url(url, sender=sender))
    if host:
        return SmtpMailer(SmtpConfig.build(host=host, port=port, user=user, password=password,
                                           security="starttls" if starttls else "none",
                                           sender=sender))
    return None
