"""The marketplace core: the app factory and what every audience's package stands on."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route stops at the largest row id: a longer number is a 404."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002  (werkzeug's name)
        from marketplace.db import MAX_ID

        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build a configured app. No import-time side effects, never migrates, never prompts."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    os.makedirs(app.instance_path, exist_ok=True)

    from marketplace.config import build_config

    app.config.from_mapping(build_config(app.instance_path, overrides))
    app.url_map.converters["int"] = IdConverter

    # Importing the models registers every table on the metadata that migrations compare to.
    import buyers.models  # noqa: F401
    import payouts.models  # noqa: F401
    import vendors.import_models  # noqa: F401
    import vendors.models  # noqa: F401
    import vendors.order_models  # noqa: F401
    import vendors.shipping_models  # noqa: F401
    from marketplace import fx, i18n, jobs, logs, models, tax  # noqa: F401
    from marketplace.extensions import csrf, db, login_manager, migrate
    from marketplace.payments import models as payment_models  # noqa: F401
    from marketplace.search import tables  # noqa: F401  (search tables on the metadata)

    db.init_app(app)
    migrate.init_app(
        app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations")
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    jobs.init_app(app)
    logs.init_app(app)

    import marketplace.admin.moderation  # noqa: F401  (adds the product review queue)
    import vendors.catalog_api  # noqa: F401  (adds catalog editing to the vendor API)
    import vendors.import_api  # noqa: F401  (adds catalog CSV files to the vendor API)
    import vendors.order_api  # noqa: F401  (adds the shop's orders to the vendor API)
    from buyers.api import bp as catalog_api_bp
    from buyers.cart_views import bp as cart_bp
    from buyers.checkout_api import bp as checkout_api_bp
    from buyers.checkout_views import bp as checkout_bp
    from buyers.order_api import bp as buyer_orders_api_bp
    from buyers.order_views import bp as buyer_orders_bp
    from buyers.views import bp as buyers_bp
    from marketplace.admin import seed  # noqa: F401  (adds `flask marketplace seed`)
    from marketplace.admin.views import bp as admin_bp
    from marketplace.api import bp as api_bp
    from marketplace.auth import cli as auth_cli  # noqa: F401  (adds `create-admin`)
    from marketplace.auth.views import bp as auth_bp
    from marketplace.cli import marketplace_cli
    from marketplace.errors import register_error_handlers
    from marketplace.health import bp as health_bp
    from marketplace.payments.sandbox_views import bp as payments_sandbox_bp
    from marketplace.payments.webhooks import bp as payments_bp
    from payouts.views import bp as payouts_bp
    from vendors import search as vendor_search  # noqa: F401  (adds `reindex`)
    from vendors.api import bp as vendor_api_bp
    from vendors.image_views import bp as media_bp
    from vendors.views import bp as vendors_bp

    for blueprint in (auth_bp, buyers_bp, vendors_bp, payouts_bp, admin_bp, api_bp,
                      catalog_api_bp, health_bp):
        app.register_blueprint(blueprint)
    for blueprint in (cart_bp, checkout_bp, checkout_api_bp):
        app.register_blueprint(blueprint)
    for blueprint in (vendor_api_bp, payments_sandbox_bp, payments_bp, media_bp):
        app.register_blueprint(blueprint)
    for blueprint in (buyer_orders_bp, buyer_orders_api_bp):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    app.cli.add_command(marketplace_cli)
    return app
