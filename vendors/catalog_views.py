"""The catalog section of the portal: the product list, the product form (texts per language,
attributes, option types and the variant table), photos, and the product's lifecycle
buttons (submit for review, withdraw, archive, restore).

Views are thin: read the form, call one service of ``vendors.catalog`` / ``vendors.images``,
commit, flash, redirect. A refused edit re-renders the form with the messages next to the
fields and writes nothing.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.models import Category
from marketplace.money import Money
from marketplace.pagination import paginate
from marketplace.scoping import get_vendor_owned_or_404
from vendors import catalog, catalog_bulk, images
from vendors.access import Permission, vendor_member_required
from vendors.catalog_forms import FormState, empty_state, parse, regenerate, remap, state_from_data
from vendors.catalog_schemas import CatalogQuerySchema
from vendors.errors import VendorError
from vendors.forms import ActionForm
from vendors.image_views import send_image
from vendors.models import (
    Product,
    ProductImage,
    ProductRevision,
    ProductStatus,
    RevisionStatus,
    Variant,
)

bp = Blueprint("catalog", __name__)

catalog_query = CatalogQuerySchema()

STATUS_LABELS = {
    ProductStatus.DRAFT: _l("Draft"),
    ProductStatus.SUBMITTED: _l("Awaiting review"),
    ProductStatus.APPROVED: _l("Live"),
    ProductStatus.REJECTED: _l("Rejected"),
    ProductStatus.ARCHIVED: _l("Archived"),
}


def _price(variant: Variant) -> str:
    return Money(variant.price_minor, variant.currency).format(str(get_locale()))


def _categories() -> list[tuple[int, str]]:
    """Every category as (id, "Parent › Child"), sorted by that path."""
    rows = db.session.execute(select(Category.id, Category.parent_id, Category.name)).all()
    parents = {cid: parent for cid, parent, _name in rows}
    names = {cid: name for cid, _parent, name in rows}

    def path(cid: int) -> str:
        chain, node = [], cid
        while node is not None and node not in chain and len(chain) < 10:
            chain.append(node)
            node = parents.get(node)
        return " › ".join(names[c] for c in reversed(chain))

    return sorted(((cid, path(cid)) for cid in parents), key=lambda pair: pair[1].lower())


@bp.context_processor
def _helpers() -> dict:
    return {"status_labels": STATUS_LABELS, "format_price": _price,
            "action_form": ActionForm()}


# --- The list ------------------------------------------------------------------------------


@bp.get("/products")
@vendor_member_required
def products() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_CATALOG)
    query = catalog_query.load(request.args)
    page = paginate(
        catalog.products_select(g.vendor.id, status=query["status"])
        .options(selectinload(Product.variants)),
        query["page"], query["per_page"],
    )
    thumbs = images.first_images([product.id for product in page.items])
    counts = catalog.count_by_status(g.vendor.id)
    return render_template("vendors/products.html", products=page, query=query, thumbs=thumbs,
                           counts=counts, drafts=counts.get(ProductStatus.DRAFT, 0))


@bp.post("/products/submit-drafts")
@vendor_member_required
def submit_drafts() -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
    else:
        sent, left = catalog_bulk.submit_all_drafts(g.actor)
        db.session.commit()
        flash(_("%(num)d draft(s) sent for review.", num=sent), "success")
        if left:
            flash(_("%(num)d draft(s) have no variant yet and stayed drafts.", num=left),
                  "info")
    return redirect(url_for("vendors.catalog.products", status="submitted"), 303)


# --- Creating and editing ------------------------------------------------------------------


def _render_form(state: FormState, product: Product | None = None, status: int = 200):
    revision = catalog.latest_revision(product.id) if product is not None else None
    return render_template(
        "vendors/product_form.html", state=state, product=product, revision=revision,
        categories=_categories(), locales=catalog.supported_locales(),
        currency=g.vendor.default_currency, RevisionStatus=RevisionStatus,
        ProductStatus=ProductStatus,
    ), status


def _save(product: Product | None) -> ResponseReturnValue:
    """Handle a posted product form: regenerate the rows, or validate and save."""
    currency = g.vendor.default_currency
    if not ActionForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return _render_form(regenerate(request.form, currency), product, 400)
    if request.form.get("action") == "generate":
        return _render_form(regenerate(request.form, currency), product)
    state, data = parse(request.form, currency)
    if data is None:
        return _render_form(state, product, 422)
    was_submitted = product is not None and product.status == ProductStatus.SUBMITTED
    try:
        if product is None:
            saved = catalog.create_product(g.actor, data)
        else:
            saved = catalog.update_product(g.actor, product.id, data)
    except VendorError as error:
        db.session.rollback()
        state.errors = remap({error.field or "_": [error.message]}, state.rows)
        return _render_form(state, product, error.status)
    db.session.commit()
    if product is None:
        flash(_("The product is saved as a draft. Add photos, then send it for review."),
              "success")
    elif isinstance(saved, ProductRevision):
        flash(_("Your changes wait for review; the live listing stays as it is until they "
                "are approved."), "success")
    elif was_submitted:
        flash(_("The product is saved and back to draft: send it for review again when it "
                "is ready."), "success")
    else:
        flash(_("The product is saved."), "success")
    product_id = saved.id if product is None else product.id
    return redirect(url_for("vendors.catalog.edit_product", product_id=product_id), 303)


@bp.route("/products/new", methods=["GET", "POST"])
@vendor_member_required
def new_product() -> ResponseReturnValue:
    g.actor.require(Permission.EDIT_CATALOG)
    if request.method == "POST":
        return _save(None)
    return _render_form(empty_state())


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@vendor_member_required
def edit_product(product_id: int) -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_CATALOG)
    product = get_vendor_owned_or_404(Product, product_id, g.vendor.id)
    if request.method == "POST":
        g.actor.require(Permission.EDIT_CATALOG)
        return _save(product)
    return _render_form(state_from_data(catalog.merged(product, {}), g.vendor.default_currency),
                        product)


# --- The lifecycle buttons -----------------------------------------------------------------


_ACTIONS = {
    "submit": (catalog.submit_product, _l("The product is sent for review.")),
    "withdraw": (catalog.withdraw_product, _l("The product is back to draft.")),
    "archive": (catalog.archive_product, _l("The product is archived: buyers no longer see "
                                            "it.")),
    "restore": (catalog.restore_product, _l("The product is restored as a draft.")),
}


def _lifecycle_view(action: str):
    service, message = _ACTIONS[action]

    @vendor_member_required
    def view(product_id: int) -> ResponseReturnValue:
        product = get_vendor_owned_or_404(Product, product_id, g.vendor.id)
        if not ActionForm().validate_on_submit():
            flash(_("The form expired; please try again."), "error")
        else:
            try:
                service(g.actor, product.id)
            except VendorError as error:
                db.session.rollback()
                flash(error.message, "error")
            else:
                db.session.commit()
                flash(str(message), "success")
        return redirect(url_for("vendors.catalog.edit_product", product_id=product_id), 303)

    return view


for _action in _ACTIONS:
    # Endpoints vendors.catalog.submit_product, .withdraw_product, .archive_product...
    bp.add_url_rule(f"/products/<int:product_id>/{_action}", f"{_action}_product",
                    _lifecycle_view(_action), methods=["POST"])


# --- Photos --------------------------------------------------------------------------------


def _back_to_photos(product_id: int) -> ResponseReturnValue:
    return redirect(url_for("vendors.catalog.edit_product", product_id=product_id,
                            _anchor="photos"), 303)


@bp.post("/products/<int:product_id>/images")
@vendor_member_required
def upload_image(product_id: int) -> ResponseReturnValue:
    product = get_vendor_owned_or_404(Product, product_id, g.vendor.id)
    upload = request.files.get("image")
    if not ActionForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return _back_to_photos(product.id)
    try:
        # One byte past the limit is enough to know the file is too large.
        raw = upload.stream.read(images.MAX_IMAGE_BYTES + 1) if upload else b""
        images.add_image(g.actor, product.id, raw, alt=request.form.get("alt", ""))
    except VendorError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("The photo is added."), "success")
    return _back_to_photos(product.id)


def _image_view(change, message: str):
    @vendor_member_required
    def view(image_id: int) -> ResponseReturnValue:
        image = get_vendor_owned_or_404(ProductImage, image_id, g.vendor.id)
        product_id = image.product_id
        if not ActionForm().validate_on_submit():
            flash(_("The form expired; please try again."), "error")
            return _back_to_photos(product_id)
        try:
            change(g.actor, image.id)
        except VendorError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(str(message), "success")
        return _back_to_photos(product_id)

    return view


bp.add_url_rule("/products/images/<int:image_id>/delete", "delete_image",
                _image_view(images.delete_image, _l("The photo is removed.")), methods=["POST"])
bp.add_url_rule("/products/images/<int:image_id>/earlier", "image_earlier",
                _image_view(lambda actor, image_id: images.move_image(actor, image_id, -1),
                            _l("The photo moved one place earlier.")), methods=["POST"])
bp.add_url_rule("/products/images/<int:image_id>/later", "image_later",
                _image_view(lambda actor, image_id: images.move_image(actor, image_id, 1),
                            _l("The photo moved one place later.")), methods=["POST"])


@bp.get("/products/images/<int:image_id>")
@vendor_member_required
def image(image_id: int) -> ResponseReturnValue:
    """A photo of the vendor's own product (drafts too), ``?size=thumb`` for the thumbnail."""
    g.actor.require(Permission.VIEW_CATALOG)
    get_vendor_owned_or_404(ProductImage, image_id, g.vendor.id)
    return send_image(image_id, request.args.get("size", "full"), public=False)
