"""Payouts blueprint: balances, statements and payouts arrive with the payouts issue."""
from flask import Blueprint

bp = Blueprint("payouts", __name__, url_prefix="/payouts", template_folder="templates")
