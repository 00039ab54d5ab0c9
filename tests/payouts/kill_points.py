"""TEST HOOK, used only by ``tests/payouts/test_payout_worker_kill.py``: an RQ worker class that
SIGKILLs its own process at a named point of the payout job.

The test starts a real ``rq worker -w tests.payouts.kill_points.KillingWorker`` process with
``PAYOUT_KILL_POINT`` set to one of :data:`POINTS`. The worker is the production
:class:`~marketplace.jobs.MarketplaceWorker` (jobs run in the worker process, so the kill takes
the job down with it); it only wraps two functions of ``payouts.payouts`` in its own process:

- ``before_transfer``: the claim is committed (``processing``), the provider not yet asked;
- ``after_transfer``: the provider answered with a transfer, the completion not committed;
- ``after_commit``: ``send_payout`` committed ``paid``, RQ has not recorded the job finished.

Nothing in the application reads ``PAYOUT_KILL_POINT``; without this worker class it does
nothing.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from marketplace.jobs import MarketplaceWorker
from payouts import payouts

POINTS = ("before_transfer", "after_transfer", "after_commit")
ENV = "PAYOUT_KILL_POINT"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(point: str) -> None:
    # The job runs ``payouts.payouts.send_payout`` (looked up by name when it starts), which
    # calls ``transfer`` through the module: wrapping the module attributes is enough.
    transfer, send_payout = payouts.transfer, payouts.send_payout
    if point == "before_transfer":
        def killed_before(payout: Any) -> str:
            _die()
            return transfer(payout)  # never reached

        payouts.transfer = killed_before
    elif point == "after_transfer":
        def killed_after(payout: Any) -> str:
            transfer_id = transfer(payout)
            _die()
            return transfer_id  # never reached

        payouts.transfer = killed_after
    elif point == "after_commit":
        def killed_after_commit(payout_id: int) -> str:
            outcome = send_payout(payout_id)
            _die()
            return outcome  # never reached

        payouts.send_payout = killed_after_commit
    else:
        raise RuntimeError(f"{ENV} must be one of {POINTS}, not {point!r}")


class KillingWorker(MarketplaceWorker):
    """MarketplaceWorker that dies by SIGKILL at ``$PAYOUT_KILL_POINT`` (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _install(os.environ[ENV])
