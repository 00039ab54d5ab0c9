"""The baseline: the smallest Flask app, served with the same gunicorn settings as the marketplace.

Its requests/s is what the storefront pages are measured against, so the ratios say how much
the marketplace's own work costs on top of Flask, WSGI and gunicorn on this machine.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, world!"
