"""The SMTP mailer against a real SMTP server on loopback (aiosmtpd): what arrives, how SMTP's
refusals and an unreachable server map onto retryable and permanent errors, STARTTLS with a
login on a self-signed certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.smtp import SmtpConfig, SmtpMailer, mailer_from_settings
from tests.support.slack_helpers import free_port
from tests.support.smtp_server import SmtpServer, self_signed
from workflows.ports import ExternalServiceError


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    smtp = SmtpServer().start()
    yield smtp
    smtp.stop()


def _mailer(port: int, **kwargs: object) -> SmtpMailer:
    return SmtpMailer(SmtpConfig.build(host="127.0.0.1", port=port, security="none", user=None,
                                       password=None, sender="firebell@example.com"),
                      **kwargs)  # type: ignore[arg-type]


def test_a_plain_text_message_arrives_with_its_stable_message_id(server: SmtpServer) -> None:
    mailer = _mailer(server.port)
    for _ in range(2):  # the same effect sent again after a lost answer
        mailer.send_email(to=["erin@example.com", "grace@example.com"], subject="INC-7\nP1 update",
                          body="Checkout is back.\nÜmlauts survive.", message_id="email:7:update:ab")
    (to, first), (_, second) = server.wait_for(2)
    assert to == ["erin@example.com", "grace@example.com"]
    assert first["From"] == "firebell@example.com"
    assert first["To"] == "erin@example.com, grace@example.com"
    assert first["Subject"] == "INC-7 P1 update"  # a header never carries a line break
    assert first["Message-ID"] == second["Message-ID"] == "<email.7.update.ab@example.com>"
    assert first.get_content_type() == "text/plain"
    assert first.get_content().replace("\r\n", "\n").strip() == "Checkout is back.\nÜmlauts survive."


def test_a_permanent_refusal_is_not_retried_and_a_temporary_one_is(server: SmtpServer) -> None:
    server.refuse("gone@example.com", "550 5.1.1 no such user here")
    server.refuse("busy@example.com", "451 4.3.0 try again later")
    with pytest.raises(ExternalServiceError) as permanent:
        _mailer(server.port).send_email(to=["gone@example.com"], subject="s", body="b",
                                        message_id="m1")
    assert not permanent.value.retryable
    assert "gone@example.com (550 5.1.1 no such user here)" in str(permanent.value)
    with pytest.raises(ExternalServiceError) as temporary:
        _mailer(server.port).send_email(to=["busy@example.com"], subject="s", body="b",
                                        message_id="m2")
    assert temporary.value.retryable
    assert server.messages == []


def test_some_recipients_refused_is_said_and_not_sent_again(server: SmtpServer) -> None:
    server.refuse("gone@example.com")
    with pytest.raises(ExternalServiceError) as error:
        _mailer(server.port).send_email(to=["erin@example.com", "gone@example.com"], subject="s",
                                        body="b", message_id="m3")
    assert not error.value.retryable  # erin has it: a retry would send it to her twice
    assert "delivered to 1 of 2, refused gone@example.com" in str(error.value)
    [(to, _)] = server.wait_for(1)
    assert to == ["erin@example.com"]


def test_an_unreachable_server_is_retryable() -> None:
    with pytest.raises(ExternalServiceError) as error:
        _mailer(free_port(), timeout=2).send_email(to=["erin@example.com"], subject="s",
                                                   body="b", message_id="m4")
    assert error.value.retryable
    assert "unreachable" in str(error.value)


def test_starttls_and_login_from_smtp_url(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    smtp = SmtpServer(tls=server_tls, login=("bob", "p@ss:word")).start()
    try:
        config = SmtpConfig.from_url(
            f"smtp://bob:p%40ss%3Aword@127.0.0.1:{smtp.port}?starttls=true", sender=None)
        assert (config.security, config.user, config.password) == ("starttls", "bob", "p@ss:word")
        SmtpMailer(config, ssl_context=client_tls).send_email(
            to=["erin@example.com"], subject="over TLS", body="hello", message_id="m5")
        [(_, message)] = smtp.wait_for(1)
        assert message["Subject"] == "over TLS" and smtp.logins == ["bob"]
        # A certificate nobody trusts is refused, and retrying will not make it trusted.
        with pytest.raises(ExternalServiceError) as untrusted:
            SmtpMailer(config).send_email(to=["erin@example.com"], subject="s", body="b",
                                          message_id="m6")
        assert not untrusted.value.retryable
        # Without STARTTLS the server refuses the mail (530: a setting to fix, not retried).
        plain = SmtpConfig.build(host="127.0.0.1", port=smtp.port, security="none", user=None,
                                 password=None, sender="firebell@example.com")
        with pytest.raises(ExternalServiceError) as refused:
            SmtpMailer(plain).send_email(to=["erin@example.com"], subject="s", body="b",
                                         message_id="m7")
        assert not refused.value.retryable and "530" in str(refused.value)
        assert len(smtp.messages) == 1
    finally:
        smtp.stop()


def test_settings_choose_the_mailer() -> None:
    assert mailer_from_settings(url=None, host=None, port=None, user=None, password=None,
                                starttls=False, sender=None) is None
    by_url = mailer_from_settings(url="smtps://mail.example.com", host=None, port=None, user=None,
                                  password=None, starttls=False, sender="ops@example.com")
    assert by_url is not None and by_url.config == SmtpConfig(
        host="mail.example.com", port=465, sender="ops@example.com", security="tls")
    by_host = mailer_from_settings(url=None, host="mail.example.com", port=None, user="ops@example.com",
                                   password="x", starttls=True, sender=None)
    assert by_host is not None and (by_host.config.port, by_host.config.security,
                                    by_host.config.sender) == (587, "starttls", "ops@example.com")
    with pytest.raises(Exception, match="SMTP_URL must look like"):
        mailer_from_settings(url="http://mail.example.com", host=None, port=None, user=None,
                             password=None, starttls=False, sender=None)
