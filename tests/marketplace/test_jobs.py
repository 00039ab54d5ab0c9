"""The outbox and the workers: jobs run after commit, never after rollback, survive outages."""

from __future__ import annotations

import logging
import socketserver
import threading

import pytest
import redis
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry

from marketplace import jobs
from marketplace.extensions import db
from marketplace.jobs import drain_outbox, enqueue_after_commit, run_queued_jobs
from marketplace.mail import queue_email, send_email
from marketplace.models import OutboxJob, User
from tests.factories import make_user
from tests.marketplace import jobfuncs
from tests.marketplace.jobfuncs import record_user_email


def _outbox_rows() -> list[OutboxJob]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxJob).order_by(OutboxJob.id)))


@pytest.fixture
def redis_down(monkeypatch):
    """Point the outbox at a port where no Redis listens, as during an outage."""

    def unreachable(app=None):
        # No retries: redis-py would back off for seconds before admitting the refusal.
        return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1,
                           retry=Retry(NoBackoff(), 0))

    monkeypatch.setattr(jobs, "get_redis", unreachable)
    return monkeypatch


def test_committed_job_runs_and_sees_the_committed_row(app):
    # given a user and a job about them, written in one transaction
    user = make_user("ada@example.com")
    enqueue_after_commit("default", record_user_email, user.id)
    # when the transaction commits and the workers run
    db.session.commit()
    ran = run_queued_jobs()
    # then the job ran once and found the committed user
    assert ran == 1
    assert jobfuncs.seen() == ["ada@example.com"]
    [row] = _outbox_rows()
    assert row.enqueued_at is not None
    assert row.attempts == 1
    assert row.last_error is None


def test_nothing_is_queued_before_the_commit(app):
    # given a job added and flushed but not committed
    user = make_user("ada@example.com")
    enqueue_after_commit("default", record_user_email, user.id)
    db.session.flush()
    # when the workers run before the commit
    ran = run_queued_jobs()
    # then nothing ran yet
    assert ran == 0
    db.session.commit()
    assert run_queued_jobs() == 1


def test_rolled_back_transaction_enqueues_nothing(app):
    # given a job written in a transaction that is then rolled back
    user = make_user("ada@example.com")
    enqueue_after_commit("default", record_user_email, user.id)
    db.session.flush()
    db.session.rollback()
    # when a later, unrelated transaction commits and the workers run
    make_user("grace@example.com")
    db.session.commit()
    ran = run_queued_jobs()
    # then the rolled-back job never ran and left no outbox row
    assert ran == 0
    assert jobfuncs.seen() == []
    assert _outbox_rows() == []


def test_job_that_writes_commits_its_change(app):
    # given a job that renames a user
    user = make_user("ada@example.com", name="Ada")
    enqueue_after_commit("default", jobfuncs.rename_user, user.id, name="Ada Lovelace")
    db.session.commit()
    # when it runs
    assert run_queued_jobs() == 1
    # then the change is committed
    db.session.expire_all()
    assert db.session.get(User, user.id).name == "Ada Lovelace"


def test_redis_outage_at_commit_keeps_the_data_and_a_later_drain_delivers_once(
    app, redis_down, caplog
):
    # given Redis is unreachable when a transaction with a job commits
    user = make_user("ada@example.com")
    enqueue_after_commit("default", record_user_email, user.id)
    with caplog.at_level(logging.WARNING, logger="marketplace.jobs"):
        db.session.commit()
    # then the commit succeeded, and the job waits in the outbox with the error recorded
    assert db.session.scalar(sa.select(User.email)) == "ada@example.com"
    [row] = _outbox_rows()
    assert row.enqueued_at is None
    assert row.attempts == 1
    assert row.last_error.startswith("ConnectionError")
    assert any("stays pending" in r.getMessage() for r in caplog.records)
    # when Redis is back and the outbox is drained (twice, as two workers would)
    redis_down.undo()
    assert run_queued_jobs() == 0
    assert drain_outbox() == 1
    assert drain_outbox() == 0
    # then the job runs exactly once
    assert run_queued_jobs() == 1
    assert jobfuncs.seen() == ["ada@example.com"]
    [row] = _outbox_rows()
    assert row.enqueued_at is not None
    assert row.attempts == 2
    assert row.last_error is None


def test_drain_pushes_oldest_first_up_to_the_limit(app, redis_down):
    # given three jobs left pending by an outage
    users = [make_user(f"user{n}@example.com") for n in range(3)]
    for user in users:
        enqueue_after_commit("default", record_user_email, user.id)
    db.session.commit()
    redis_down.undo()
    # when the outbox is drained two at a time
    assert drain_outbox(limit=2) == 2
    assert [row.enqueued_at is not None for row in _outbox_rows()] == [True, True, False]
    assert drain_outbox(limit=2) == 1
    # then every job ran, in the order they were written
    assert run_queued_jobs() == 3
    assert jobfuncs.seen() == ["user0@example.com", "user1@example.com", "user2@example.com"]


def test_worker_burst_command_delivers_pending_outbox_jobs(app, redis_down):
    # given a job left pending by an outage
    user = make_user("ada@example.com")
    enqueue_after_commit("email", record_user_email, user.id)
    db.session.commit()
    redis_down.undo()
    # when an operator runs a burst worker
    result = app.test_cli_runner().invoke(args=["marketplace", "worker", "--burst"])
    # then the job ran
    assert result.exit_code == 0, result.output
    assert result.output == "Ran 1 job(s).\n"
    assert jobfuncs.seen() == ["ada@example.com"]
    assert _outbox_rows()[0].enqueued_at is not None


def test_worker_command_rejects_unknown_queues(app):
    result = app.test_cli_runner().invoke(
        args=["marketplace", "worker", "--burst", "--queues", "default,nope"]
    )
    assert result.exit_code == 2
    assert "unknown queue(s) nope" in result.output


def test_stable_job_id_coalesces_work_still_waiting(app):
    # given the same job requested twice, by id, before a worker got to it
    user = make_user("ada@example.com")
    enqueue_after_commit("search", record_user_email, user.id, job_id=f"index-user-{user.id}")
    db.session.commit()
    enqueue_after_commit("search", record_user_email, user.id, job_id=f"index-user-{user.id}")
    db.session.commit()
    # when the workers run
    ran = run_queued_jobs()
    # then it ran once, and a later request runs it again
    assert ran == 1
    enqueue_after_commit("search", record_user_email, user.id, job_id=f"index-user-{user.id}")
    db.session.commit()
    assert run_queued_jobs() == 1
    assert jobfuncs.seen() == ["ada@example.com", "ada@example.com"]


def test_jobs_enqueued_by_a_job_run_in_the_same_burst(app, caplog):
    # given a job that commits a change and queues an email with it
    user = make_user("ada@example.com", name="Ada")
    enqueue_after_commit("default", jobfuncs.welcome, user.id)
    db.session.commit()
    # when the workers run once
    with caplog.at_level(logging.INFO, logger="marketplace.mail"):
        ran = run_queued_jobs()
    # then both the job and the email it queued ran
    assert ran == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "marketplace.mail"]
    assert len(messages) == 1
    assert "Hello Ada (welcomed)" in messages[0]


def test_unknown_queue_and_bad_job_id_are_refused(app):
    with pytest.raises(ValueError, match="unknown queue 'nope'"):
        enqueue_after_commit("nope", record_user_email, 1)
    with pytest.raises(ValueError, match="Job ID must only contain"):
        enqueue_after_commit("default", record_user_email, 1, job_id="index:1")


def test_send_email_without_smtp_writes_the_mail_to_the_log(app, caplog):
    with caplog.at_level(logging.INFO, logger="marketplace.mail"):
        send_email("ada@example.com", "Reset your password", "Open https://example.com/r/abc")
    [record] = [r for r in caplog.records if r.name == "marketplace.mail"]
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert "To: ada@example.com" in message
    assert "Subject: Reset your password" in message
    assert "Open https://example.com/r/abc" in message


def test_queue_email_sends_after_commit_on_the_email_queue(app, caplog):
    # given an email queued in a committed transaction
    queue_email("ada@example.com", "Welcome", "Hello Ada")
    db.session.commit()
    [row] = _outbox_rows()
    assert (row.queue, row.func) == ("email", "marketplace.mail.send_email")
    # when the workers run
    with caplog.at_level(logging.INFO, logger="marketplace.mail"):
        assert run_queued_jobs() == 1
    # then the mail was written to the log
    messages = [r.getMessage() for r in caplog.records if r.name == "marketplace.mail"]
    assert len(messages) == 1
    assert "To: ada@example.com" in messages[0] and "Hello Ada" in messages[0]


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough of an SMTP server to accept one message and remember it."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        envelope: dict = {"rcpt": []}
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "DATA":
                self.wfile.write(b"354 go ahead\r\n")
                data = []
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data.append(chunk)
                envelope["data"] = b"".join(data).decode()
                self.server.messages.append(envelope)
                reply = b"250 queued\r\n"
            elif verb == "MAIL":
                envelope["from"] = command
                reply = b"250 ok\r\n"
            elif verb == "RCPT":
                envelope["rcpt"].append(command)
                reply = b"250 ok\r\n"
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # EHLO, HELO, RSET, NOOP
                reply = b"250 test\r\n"
            self.wfile.write(reply)


@pytest.fixture
def smtp_server(app, monkeypatch):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", server.server_address[1])
    yield server
    server.shutdown()
    server.server_close()


def test_send_email_with_smtp_configured_delivers_to_the_server(app, smtp_server):
    send_email("ada@example.com", "Reset your password", "Open https://example.com/r/abc")
    [message] = smtp_server.messages
    assert message["rcpt"] == ["rcpt TO:<ada@example.com>"]
    assert "Subject: Reset your password" in message["data"]
    assert "From: marketplace@localhost" in message["data"]
    assert "Open https://example.com/r/abc" in message["data"]
