"""The admin dashboard and /admin/jobs: who may see them, what they show, retrying a failed job."""

from __future__ import annotations

import re

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from marketplace import jobs
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit, run_queued_jobs
from marketplace.models import Role
from tests.conftest import csrf_token
from tests.factories import make_product, make_user, make_vendor
from tests.marketplace import jobfuncs
from vendors.models import ProductStatus, VendorStatus


def log_in(client, user) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


@pytest.fixture
def admin_client(app, client):
    admin = make_user("root@example.com", role=Role.ADMIN, name="Root")
    db.session.commit()
    log_in(client, admin)
    return client


def queue_row(html: str, queue: str) -> dict[str, str]:
    row = re.search(rf'<tr id="queue-{queue}">(.*?)</tr>', html, re.S).group(1)
    return dict(re.findall(r'data-count="(\w+)">([^<]*)<', row))


@pytest.mark.parametrize("path", ["/admin/", "/admin/jobs"])
def test_anonymous_visitors_are_sent_to_log_in(app, client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", ["/admin/", "/admin/jobs"])
def test_buyers_are_forbidden(app, client, path):
    buyer = make_user("ada@example.com")
    db.session.commit()
    log_in(client, buyer)
    assert client.get(path).status_code == 403


def test_retry_is_forbidden_to_buyers(app, client):
    buyer = make_user("ada@example.com")
    db.session.commit()
    log_in(client, buyer)
    token = csrf_token(client, "/")
    response = client.post("/admin/jobs/outbox-1/retry", data={"csrf_token": token})
    assert response.status_code == 403


def test_dashboard_counts_users_vendors_and_products_by_status(app, admin_client):
    # given two more users, three vendors and products in two states
    make_user("ada@example.com")
    make_user("grace@example.com")
    approved = make_vendor(status=VendorStatus.APPROVED)
    make_vendor(status=VendorStatus.APPROVED)
    make_vendor(status=VendorStatus.PENDING)
    make_product(approved, status=ProductStatus.APPROVED)
    make_product(approved, status=ProductStatus.SUBMITTED)
    make_product(approved, status=ProductStatus.SUBMITTED)
    db.session.commit()
    # when the admin opens the dashboard
    html = admin_client.get("/admin/").get_data(as_text=True)
    # then every count is there, zeros included
    assert 'id="count-users">3<' in html
    assert 'id="count-vendors-approved">2<' in html
    assert 'id="count-vendors-pending">1<' in html
    assert 'id="count-vendors-suspended">0<' in html
    assert 'id="count-products-approved">1<' in html
    assert 'id="count-products-submitted">2<' in html
    assert 'id="count-products-draft">0<' in html
    assert 'href="/admin/jobs"' in html


def test_empty_jobs_page_shows_zero_counts_and_empty_states(app, admin_client):
    html = admin_client.get("/admin/jobs").get_data(as_text=True)
    assert queue_row(html, "default") == {
        "queued": "0", "started": "0", "failed": "0", "finished": "0", "scheduled": "0",
    }
    assert "No failed jobs." in html
    assert "Nothing is running or waiting." in html
    assert '<strong id="outbox-pending">0</strong>' in html


def test_queued_job_is_listed_with_its_function(app, admin_client):
    # given a committed job no worker has picked up yet
    row = enqueue_after_commit("email", jobfuncs.explode, "later")
    db.session.commit()
    # when the admin looks at the jobs page
    html = admin_client.get("/admin/jobs").get_data(as_text=True)
    # then it is counted as queued and listed with the function it will run
    assert queue_row(html, "email")["queued"] == "1"
    active = re.search(rf'<tr id="active-outbox-{row.id}">(.*?)</tr>', html, re.S).group(1)
    assert "tests.marketplace.jobfuncs.explode" in active
    assert "Queued" in active


def test_failed_job_is_listed_with_its_error_and_retry_requeues_it(app, admin_client):
    # given a job that failed
    row = enqueue_after_commit("default", jobfuncs.explode, "the printer is on fire")
    db.session.commit()
    assert run_queued_jobs() == 1
    job_id = f"outbox-{row.id}"
    # when the admin opens the jobs page
    html = admin_client.get("/admin/jobs").get_data(as_text=True)
    # then it is counted and listed as failed, with the last line of its error
    assert queue_row(html, "default")["failed"] == "1"
    failed = re.search(rf'<tr id="failed-{job_id}">(.*?)</tr>', html, re.S).group(1)
    assert "tests.marketplace.jobfuncs.explode" in failed
    assert '<td class="job-error">RuntimeError: the printer is on fire</td>' in failed
    # when the admin presses Retry
    token = csrf_token(admin_client, "/admin/jobs")
    response = admin_client.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": token})
    # then the job is back on its queue, out of the failed list
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/jobs"
    html = admin_client.get("/admin/jobs").get_data(as_text=True)
    assert f"Job {job_id} is queued again." in html
    assert queue_row(html, "default")["queued"] == "1"
    assert queue_row(html, "default")["failed"] == "0"
    assert "No failed jobs." in html
    # and a worker runs it again (it fails again: the retry really ran it)
    assert run_queued_jobs() == 1
    html = admin_client.get("/admin/jobs").get_data(as_text=True)
    assert queue_row(html, "default")["failed"] == "1"


def test_retrying_a_job_that_is_not_failed_says_so(app, admin_client):
    token = csrf_token(admin_client, "/admin/jobs")
    response = admin_client.post("/admin/jobs/outbox-999/retry", data={"csrf_token": token})
    assert response.status_code == 303
    html = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Job outbox-999 is not in the failed list any more." in html


def test_retry_without_csrf_token_is_refused(app, admin_client):
    row = enqueue_after_commit("default", jobfuncs.explode, "boom")
    db.session.commit()
    run_queued_jobs()
    response = admin_client.post(f"/admin/jobs/outbox-{row.id}/retry")
    assert response.status_code == 400
    html = admin_client.get("/admin/jobs").get_data(as_text=True)
    assert queue_row(html, "default")["failed"] == "1"


def test_jobs_page_counts_outbox_rows_not_yet_pushed(app, admin_client, monkeypatch):
    # given two committed jobs that could not reach Redis
    def unreachable(app=None):
        return redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))

    monkeypatch.setattr(jobs, "get_redis", unreachable)
    enqueue_after_commit("default", jobfuncs.explode, "a")
    enqueue_after_commit("default", jobfuncs.explode, "b")
    db.session.commit()
    monkeypatch.undo()
    # when the admin looks at the jobs page and the dashboard
    html = admin_client.get("/admin/jobs").get_data(as_text=True)
    dashboard = admin_client.get("/admin/").get_data(as_text=True)
    # then both show the two waiting rows
    assert '<strong id="outbox-pending">2</strong>' in html
    assert "2 jobs wait to be handed to the queue." in dashboard
