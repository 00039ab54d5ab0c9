"""``flask marketplace seed``: a believable, deterministic demo marketplace.

Everything random comes from one ``random.Random(seed)`` and every draw happens before any row
is written, so the same seed gives the same vendors, titles, SKUs and prices on SQLite and on
PostgreSQL whatever ids the database hands out. Products, variants and stock levels go in as
multi-row INSERTs per vendor, so ``--vendors 200 --products 100`` takes seconds, not minutes.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import click
from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import func, insert, select

from marketplace.cli import marketplace_cli
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.kv import is_embedded
from marketplace.models import Category, Role, User
from marketplace.money import Money, currency_exponent
from payouts import commission
from vendors.models import (
    MemberRole,
    Product,
    ProductStatus,
    StockLevel,
    StockLocation,
    Variant,
    Vendor,
    VendorMembership,
    VendorStatus,
)
from vendors.search import queue_rebuild_index
from vendors.shipping_models import RateKind, ShippingMethod, ShippingProfile

# Printed by the command and the README; only ever used for demo accounts.
DEMO_PASSWORD = "marketplace-demo"
ADMIN_EMAIL = "admin@example.com"
BUYER_EMAIL = "buyer@example.com"
LOGO_SIZE = 128


def vendor_owner_email(index: int) -> str:
    """The demo owner of the ``index``-th vendor (1-based): vendor1@example.com, ..."""
    return f"vendor{index}@example.com"


# --- Word lists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """What a leaf category sells: title parts, a price range in EUR and the variant axes."""

    name: str
    code: str  # SKU prefix
    nouns: tuple[str, ...]
    qualifiers: tuple[str, ...]
    price_eur: tuple[int, int]  # whole euros
    axes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    pattern: str = "{adj} {q} {n}"
    adjectives: tuple[str, ...] = (
        "Classic", "Everyday", "Handmade", "Minimal", "Vintage", "Modern", "Nordic", "Essential",
    )


COLOURS = ("Black", "White", "Sand", "Olive", "Navy", "Terracotta", "Sage", "Charcoal")
SIZES = ("XS", "S", "M", "L", "XL")
SHOE_SIZES = ("38", "39", "40", "41", "42", "43", "44", "45")

CATALOG: dict[str, tuple[Kind, ...]] = {
    "Home & Living": (
        Kind("Furniture", "FUR", ("Chair", "Side Table", "Bookshelf", "Stool", "Bench", "Desk"),
             ("Oak", "Walnut", "Rattan", "Ash", "Steel", "Beech"), (59, 899),
             (("colour", ("Natural", "Black", "White")),)),
        Kind("Lighting", "LGT", ("Table Lamp", "Floor Lamp", "Pendant Light", "Wall Sconce"),
             ("Brass", "Linen", "Ceramic", "Glass", "Paper"), (29, 349),
             (("colour", ("Brass", "White", "Black")),)),
        Kind("Kitchen & Dining", "KIT", ("Mug", "Serving Bowl", "Chef's Knife", "Teapot",
                                         "Cutting Board", "Dinner Plate Set"),
             ("Stoneware", "Porcelain", "Olive Wood", "Cast Iron", "Enamel"), (9, 189),
             (("colour", ("White", "Sage", "Charcoal", "Sand")),)),
        Kind("Textiles", "TEX", ("Throw Blanket", "Cushion Cover", "Tea Towel Set",
                                 "Duvet Cover", "Rug"),
             ("Linen", "Wool", "Cotton", "Jute", "Mohair"), (15, 249),
             (("colour", COLOURS),)),
        Kind("Decor", "DEC", ("Vase", "Candle Holder", "Wall Mirror", "Planter", "Photo Frame"),
             ("Ceramic", "Glass", "Brass", "Terracotta", "Marble"), (12, 159)),
    ),
    "Fashion": (
        Kind("Women's Clothing", "WCL", ("Dress", "Blouse", "Cardigan", "Trench Coat", "Skirt"),
             ("Linen", "Merino", "Silk", "Organic Cotton", "Denim"), (29, 299),
             (("size", SIZES), ("colour", COLOURS))),
        Kind("Men's Clothing", "MCL", ("Shirt", "Overshirt", "Sweater", "Chinos", "Jacket"),
             ("Oxford", "Merino", "Flannel", "Organic Cotton", "Corduroy"), (29, 279),
             (("size", SIZES), ("colour", COLOURS))),
        Kind("Shoes", "SHO", ("Sneakers", "Loafers", "Chelsea Boots", "Sandals", "Derby Shoes"),
             ("Leather", "Suede", "Canvas", "Vegan Leather"), (49, 249),
             (("size", SHOE_SIZES), ("colour", ("Black", "Brown", "White")))),
        Kind("Bags & Accessories", "ACC", ("Tote Bag", "Backpack", "Wallet", "Scarf", "Belt"),
             ("Leather", "Canvas", "Wool", "Waxed Cotton"), (19, 229),
             (("colour", ("Black", "Tan", "Navy", "Olive")),)),
    ),
    "Electronics": (
        Kind("Audio", "AUD", ("Headphones", "Earbuds", "Bluetooth Speaker", "Turntable"),
             ("Wireless", "Noise-Cancelling", "Studio", "Portable"), (39, 449),
             (("colour", ("Black", "Silver", "White")),),
             adjectives=("Pro", "Compact", "Classic", "Smart", "Everyday")),
        Kind("Phone Accessories", "PHN", ("Phone Case", "Charging Stand", "Power Bank",
                                          "Car Mount"),
             ("Leather", "Silicone", "Magnetic", "Fast-Charge"), (12, 89),
             (("colour", ("Black", "Clear", "Sage", "Navy")),),
             adjectives=("Slim", "Rugged", "Compact", "Everyday")),
        Kind("Computer Accessories", "CMP", ("Keyboard", "Mouse", "Laptop Stand", "USB-C Hub",
                                             "Monitor Light"),
             ("Mechanical", "Wireless", "Aluminium", "Ergonomic"), (19, 219),
             (("layout", ("US", "UK", "DE")),),
             adjectives=("Pro", "Compact", "Silent", "Travel")),
        Kind("Smart Home", "SMH", ("Smart Plug", "Thermostat", "Door Sensor", "Light Strip"),
             ("Wi-Fi", "Zigbee", "Matter-Ready"), (15, 199),
             adjectives=("Smart", "Mini", "Eco", "Plus")),
    ),
    "Books": (
        Kind("Fiction", "FIC", ("Harbour", "Orchard", "Lighthouse", "Winter", "Archivist",
                                "Cartographer", "Garden"),
             ("Silent", "Last", "Forgotten", "Northern", "Quiet", "Distant"), (9, 32),
             (("format", ("Paperback", "Hardcover", "E-book")),), pattern="The {q} {n}"),
        Kind("Cookbooks", "COO", ("Baking", "Vegetables", "Noodles", "Breakfasts", "Preserves"),
             ("Simple", "Weeknight", "Mediterranean", "Nordic", "Japanese"), (18, 45),
             (("format", ("Paperback", "Hardcover")),), pattern="{q} {n}"),
        Kind("Travel", "TRV", ("Lisbon", "Kyoto", "the Alps", "Scotland", "Sicily", "Iceland"),
             ("Walking in", "A Week in", "Slow Days in", "Hidden Corners of"), (14, 35),
             pattern="{q} {n}"),
        Kind("Children's Books", "KID", ("Fox", "Little Whale", "Moon", "Snail", "Bear"),
             ("Brave", "Sleepy", "Curious", "Tiny"), (7, 19), pattern="The {q} {n}"),
    ),
    "Sports & Outdoors": (
        Kind("Camping", "CMG", ("Tent", "Sleeping Bag", "Camping Stove", "Headlamp", "Mug"),
             ("Ultralight", "Two-Person", "Four-Season", "Titanium"), (15, 499),
             adjectives=("Trail", "Alpine", "Basecamp", "Summit")),
        Kind("Cycling", "CYC", ("Helmet", "Bike Light", "Saddle Bag", "Jersey", "Bottle Cage"),
             ("Carbon", "Merino", "Reflective", "Aero"), (12, 229),
             (("size", ("S", "M", "L")),), adjectives=("Gravel", "Road", "Commuter", "Trail")),
        Kind("Running", "RUN", ("Running Shoes", "Running Vest", "Shorts", "Cap", "Socks"),
             ("Lightweight", "Breathable", "Waterproof", "Merino"), (12, 169),
             (("size", SIZES),), adjectives=("Trail", "Tempo", "Marathon", "Daily")),
        Kind("Yoga & Fitness", "YOG", ("Yoga Mat", "Foam Roller", "Kettlebell", "Resistance Bands",
                                       "Yoga Block"),
             ("Cork", "Natural Rubber", "Cast Iron", "Recycled"), (12, 129),
             (("colour", ("Sage", "Sand", "Charcoal")),), adjectives=("Studio", "Travel", "Pro")),
    ),
    "Beauty": (
        Kind("Skincare", "SKN", ("Face Serum", "Day Cream", "Cleansing Balm", "Face Oil",
                                 "Eye Cream"),
             ("Vitamin C", "Rosehip", "Hyaluronic", "Green Tea", "Ceramide"), (12, 89),
             (("volume", ("30 ml", "50 ml")),), adjectives=("Gentle", "Daily", "Organic", "Rich")),
        Kind("Haircare", "HAI", ("Shampoo", "Conditioner", "Hair Oil", "Hair Mask"),
             ("Argan", "Rice Water", "Rosemary", "Coconut"), (8, 45),
             (("volume", ("250 ml", "500 ml")),), adjectives=("Repairing", "Daily", "Volumising")),
        Kind("Fragrance", "FRG", ("Eau de Parfum", "Scented Candle", "Room Spray",
                                  "Solid Perfume"),
             ("Fig", "Cedarwood", "Neroli", "Vetiver", "Amber"), (19, 149),
             (("volume", ("50 ml", "100 ml")),),
             adjectives=("Wild", "Midnight", "Summer", "Quiet")),
    ),
}

COUNTRIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    # code, name, default currency, warehouse cities
    ("DE", "Germany", "EUR", ("Berlin", "Hamburg", "Leipzig")),
    ("JP", "Japan", "JPY", ("Tokyo", "Osaka", "Kyoto")),
    ("GB", "the United Kingdom", "GBP", ("London", "Manchester", "Bristol")),
    ("US", "the United States", "USD", ("Portland", "Austin", "Brooklyn")),
    ("FR", "France", "EUR", ("Lyon", "Paris", "Bordeaux")),
    ("NL", "the Netherlands", "EUR", ("Amsterdam", "Utrecht", "Rotterdam")),
    ("IT", "Italy", "EUR", ("Milan", "Florence", "Bologna")),
    ("ES", "Spain", "EUR", ("Barcelona", "Valencia", "Seville")),
    ("AT", "Austria", "EUR", ("Vienna", "Graz")),
    ("IE", "Ireland", "EUR", ("Dublin", "Cork")),
)

# Every demo shop ships to these countries (those of the demo shops and a few more), so any
# demo buyer can check out whatever they put in the cart.
DEMO_SHIPPING_COUNTRIES = ("AT", "BE", "CH", "DE", "DK", "ES", "FR", "GB", "IE", "IT", "JP",
                           "NL", "PL", "PT", "SE", "US", "CA", "AU")

# Rough demo rates from EUR in percent (integers, no floats near money), to put prices in a
# believable range for each currency.
DEMO_RATES_PERCENT = {"EUR": 100, "USD": 110, "GBP": 85, "JPY": 16_000}

VENDOR_FIRST = ("Nordic", "Atelier", "Maison", "Urban", "Little", "Golden", "Blue", "Wild",
                "Harbour", "Alpine", "Copper", "Olive", "Cedar", "Meadow", "Linden", "Kumo")
VENDOR_SECOND = ("Oak", "Fern", "Loom", "Lantern", "Pine", "Stone", "Field", "River", "Fox",
                 "Finch", "Thread", "Page")
VENDOR_SUFFIX = ("Studio", "Goods", "Supply Co.", "Works", "House", "Collective", "Market",
                 "Trading", "& Co.", "Store")
FIRST_NAMES = ("Anna", "Lukas", "Sofia", "Hiro", "Emma", "Mateo", "Chloé", "Liam", "Yuki",
               "Noah", "Giulia", "Oliver", "Lena", "Sven", "Amelia", "Pablo", "Aoife", "Jan")
LAST_NAMES = ("Schmidt", "Tanaka", "Martin", "Rossi", "Garcia", "Smith", "de Vries", "Murphy",
              "Müller", "Dubois", "Sato", "Bianchi", "Jones", "Novak", "Weber", "Brown")
DESCRIPTION_LINES = (
    "Made in small batches and checked by hand before it ships.",
    "Designed to last for years, not seasons.",
    "Thoughtfully packaged with recycled, plastic-free materials.",
    "A customer favourite that we restock as fast as we can.",
    "Sourced from suppliers we know by name.",
    "Backed by our 30-day no-questions return promise.",
)
LOGO_COLOURS = ("#3050d8", "#1f7a46", "#b4471e", "#6b3fa0", "#0f766e", "#9a3412", "#334155",
                "#be185d", "#a16207", "#155e75")
PRICE_ENDINGS = (0, 50, 90, 95, 99)


# --- Plans: every random draw, before any database work ---------------------------------------


@dataclass
class VariantPlan:
    sku: str
    price_minor: int
    attributes: dict[str, str]
    # on_hand/reserved for each of the vendor's locations, in location order
    stock: list[tuple[int, int]]


@dataclass
class ProductPlan:
    kind: Kind
    title: str
    slug: str
    description: str
    status: ProductStatus
    featured: bool
    variants: list[VariantPlan]


@dataclass
class VendorPlan:
    name: str
    slug: str
    status: VendorStatus
    country: str
    currency: str
    description: str
    logo: bytes
    owner_name: str
    locations: list[str]
    products: list[ProductPlan] = field(default_factory=list)


@dataclass(frozen=True)
class SeedSummary:
    """What ``seed_demo`` wrote, for the command's report and for tests."""

    categories: int
    vendors: int
    products: int
    variants: int
    stock_levels: int
    users: int
    admin_email: str
    buyer_email: str
    vendor_owner_email: str
    password: str = DEMO_PASSWORD


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("&", "and")).strip("-")


def demo_price_minor(euros: int, ending: int, currency: str) -> int:
    """A shop-like price near ``euros`` whole euros, in ``currency``'s minor units.

    ``ending`` is the cents ending (0, 50, 90, 95, 99) used by currencies with minor units:
    129 EUR ending 99 is 12899 (€128.99). JPY has no minor units, so its prices are round
    whole yen: 28 EUR is 4500 (¥4,500), never 450000.
    """
    major = max(1, euros * DEMO_RATES_PERCENT[currency] // 100)
    exponent = currency_exponent(currency)
    if exponent == 0:
        step = 100 if major >= 1000 else 10
        return max(step, (major + step // 2) // step * step)
    scale = 10**exponent
    if ending == 0:
        return major * scale
    return (major - 1) * scale + ending * scale // 100


def make_logo(initials: str, background: str) -> bytes:
    """A square PNG with ``initials`` centred on ``background``.

    Uses Pillow's bundled default font, so it renders the same on every machine and needs no
    font files from the system.
    """
    image = Image.new("RGB", (LOGO_SIZE, LOGO_SIZE), background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=56)
    draw.text((LOGO_SIZE / 2, LOGO_SIZE / 2), initials, fill="#ffffff", font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _initials(name: str) -> str:
    letters = [word[0] for word in name.split() if word[0].isalpha()]
    return "".join(letters[:2]).upper()


def _vendor_statuses(count: int) -> list[VendorStatus]:
    """All approved, except one pending and one suspended vendor once there are three."""
    statuses = [VendorStatus.APPROVED] * count
    if count >= 3:
        statuses[-2] = VendorStatus.PENDING
        statuses[-1] = VendorStatus.SUSPENDED
    return statuses


def _plan_variants(rng: random.Random, kind: Kind, currency: str, sku_base: str,
                   locations: int, sold_out: bool) -> list[VariantPlan]:
    euros = rng.randint(*kind.price_eur)
    ending = rng.choice(PRICE_ENDINGS)
    if kind.axes:
        combos = {tuple((axis, rng.choice(values)) for axis, values in kind.axes)
                  for _ in range(rng.randint(1, 4))}
        options = sorted(combos)
    else:
        options = [()]
    plans = []
    for number, combo in enumerate(options, start=1):
        # Some sizes and formats cost a little more, as in a real shop.
        surcharge = max(1, euros // 10) * rng.choice((0, 0, 0, 1, 2))
        price = demo_price_minor(euros + surcharge, ending, currency)
        stock = []
        for _ in range(locations):
            on_hand = 0 if sold_out else rng.choice((0, 1, 2, 3, 5, 8, 12, 20, 35, 60))
            reserved = rng.randint(0, min(on_hand, 2)) if rng.random() < 0.2 else 0
            stock.append((on_hand, reserved))
        plans.append(VariantPlan(f"{sku_base}-{number}", price, dict(combo), stock))
    return plans


def _plan_products(rng: random.Random, vendor: VendorPlan, count: int) -> list[ProductPlan]:
    roots = rng.sample(sorted(CATALOG), k=rng.choice((1, 2)))
    kinds = [kind for root in roots for kind in CATALOG[root]]
    products = []
    for number in range(1, count + 1):
        kind = rng.choice(kinds)
        title = kind.pattern.format(adj=rng.choice(kind.adjectives), q=rng.choice(kind.qualifiers),
                                    n=rng.choice(kind.nouns))
        if vendor.status == VendorStatus.PENDING:
            # An applicant cannot list yet: everything is still a draft.
            status = ProductStatus.DRAFT
        else:
            roll = rng.random()
            status = (ProductStatus.DRAFT if roll < 0.05 else
                      ProductStatus.SUBMITTED if roll < 0.10 else ProductStatus.APPROVED)
        featured = status == ProductStatus.APPROVED and rng.random() < 0.15
        lines = rng.sample(DESCRIPTION_LINES, k=2)
        description = (f"{title} by {vendor.name}, shipped from {rng.choice(vendor.locations)}. "
                       + " ".join(lines))
        variants = _plan_variants(rng, kind, vendor.currency, f"{kind.code}-{number:05d}",
                                  len(vendor.locations), sold_out=rng.random() < 0.1)
        products.append(ProductPlan(kind, title, f"{slugify(title)}-{number}", description,
                                    status, featured, variants))
    return products


def plan_vendors(rng: random.Random, count: int, products: int) -> list[VendorPlan]:
    """Draw every vendor, product, variant and stock figure from ``rng``."""
    plans: list[VendorPlan] = []
    names: set[str] = set()
    for index, status in enumerate(_vendor_statuses(count)):
        name = ""
        for _ in range(20):
            name = " ".join((rng.choice(VENDOR_FIRST), rng.choice(VENDOR_SECOND),
                             rng.choice(VENDOR_SUFFIX)))
            if name not in names:
                break
        else:
            name = f"{name} {index + 1}"
        names.add(name)
        code, country_name, currency, cities = COUNTRIES[index % len(COUNTRIES)]
        location_cities = rng.sample(cities, k=rng.choice((1, 2)))
        plan = VendorPlan(
            name=name,
            slug=f"{slugify(name)}-{index + 1}",
            status=status,
            country=code,
            currency=currency,
            description=f"{name} is an independent shop from {country_name}. "
                        + rng.choice(DESCRIPTION_LINES),
            logo=make_logo(_initials(name), rng.choice(LOGO_COLOURS)),
            owner_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            locations=location_cities,
        )
        plan.products = _plan_products(rng, plan, products)
        plans.append(plan)
    return plans


# --- Writing ----------------------------------------------------------------------------------


def _seed_categories() -> dict[str, int]:
    """Create the category tree; returns leaf name -> id."""
    leaves: dict[str, Category] = {}
    for position, (root_name, kinds) in enumerate(CATALOG.items()):
        root = Category(name=root_name, slug=slugify(root_name), position=position)
        db.session.add(root)
        for child_position, kind in enumerate(kinds):
            leaves[kind.name] = Category(name=kind.name, parent=root, position=child_position,
                                         slug=f"{slugify(root_name)}-{slugify(kind.name)}")
    db.session.add_all(leaves.values())
    db.session.flush()
    return {name: category.id for name, category in leaves.items()}


def _write_vendor(plan: VendorPlan, owner: User, leaf_ids: dict[str, int]) -> tuple[int, int]:
    """Insert one vendor with its catalog and stock; returns (variants, stock levels) written."""
    vendor = Vendor(name=plan.name, slug=plan.slug, status=plan.status, country=plan.country,
                    default_currency=plan.currency, description=plan.description,
                    logo=plan.logo, logo_mime="image/png")
    db.session.add_all([vendor, VendorMembership(user=owner, vendor=vendor,
                                                 role=MemberRole.OWNER)])
    db.session.flush()
    locations = [StockLocation(vendor_id=vendor.id, name=f"{city} warehouse",
                               country=plan.country, priority=priority)
                 for priority, city in enumerate(plan.locations)]
    db.session.add_all(locations)
    _write_shipping(vendor.id, plan.currency)
    db.session.flush()
    if not plan.products:
        return 0, 0

    # Multi-row INSERT ... RETURNING, ids in parameter order so rows line up with the plan.
    product_ids = db.session.scalars(
        insert(Product).returning(Product.id, sort_by_parameter_order=True),
        [{"vendor_id": vendor.id, "category_id": leaf_ids[p.kind.name], "title": p.title,
          "slug": p.slug, "description": p.description, "status": p.status,
          "featured": p.featured} for p in plan.products],
    ).all()
    variant_plans = [(product_id, v) for product_id, p in zip(product_ids, plan.products,
                                                              strict=True) for v in p.variants]
    variant_ids = db.session.scalars(
        insert(Variant).returning(Variant.id, sort_by_parameter_order=True),
        [{"vendor_id": vendor.id, "product_id": product_id, "sku": v.sku,
          "price_minor": v.price_minor, "currency": plan.currency, "attributes": v.attributes}
         for product_id, v in variant_plans],
    ).all()
    levels = [{"vendor_id": vendor.id, "variant_id": variant_id, "location_id": location.id,
               "on_hand": on_hand, "reserved": reserved}
              for variant_id, (_, v) in zip(variant_ids, variant_plans, strict=True)
              for location, (on_hand, reserved) in zip(locations, v.stock, strict=True)]
    db.session.execute(insert(StockLevel), levels)
    return len(variant_ids), len(levels)


def _write_shipping(vendor_id: int, currency: str) -> None:
    """One profile covering every demo country: a flat "Standard" rate that is free over
    about 60 EUR, and a weight-based "Express"."""
    profile = ShippingProfile(vendor_id=vendor_id, name="Worldwide",
                              countries=list(DEMO_SHIPPING_COUNTRIES), handling_days=2)
    db.session.add(profile)
    db.session.flush()
    db.session.add_all([
        ShippingMethod(vendor_id=vendor_id, profile_id=profile.id, name="Standard",
                       kind=RateKind.FLAT, currency=currency,
                       base_minor=demo_price_minor(5, 90, currency),
                       free_over_minor=demo_price_minor(60, 0, currency)),
        ShippingMethod(vendor_id=vendor_id, profile_id=profile.id, name="Express",
                       kind=RateKind.WEIGHT, currency=currency,
                       base_minor=demo_price_minor(9, 90, currency),
                       per_kg_minor=demo_price_minor(2, 0, currency)),
    ])


def database_has_data() -> bool:
    """Whether any user, vendor or category exists (seeding would collide with them)."""
    return any(db.session.scalar(select(model.id).limit(1)) is not None
               for model in (User, Vendor, Category))


def seed_demo(vendors: int, products: int, buyers: int, seed: int,
              progress: Callable[[int], object] | None = None) -> SeedSummary:
    """Write the demo marketplace into an empty database; flushes, the caller commits.

    ``progress`` is called with 1 after each vendor is written. The same ``seed`` always gives
    the same names, SKUs and prices. Raises ValueError for a negative size or fewer than one
    vendor or buyer.
    """
    if vendors < 1 or buyers < 1 or products < 0:
        raise ValueError("need at least one vendor and one buyer, and no negative sizes")
    rng = random.Random(seed)
    plans = plan_vendors(rng, vendors, products)
    buyer_names = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(buyers)]

    # scrypt is deliberately slow; every demo account shares one password, so hash it once.
    admin = User(email=ADMIN_EMAIL, name="Ada Admin", role=Role.ADMIN)
    admin.set_password(DEMO_PASSWORD)
    password_hash = admin.password_hash

    def demo_user(email: str, name: str) -> User:
        return User(email=email, name=name, role=Role.BUYER, password_hash=password_hash)

    buyer_users = [demo_user(BUYER_EMAIL if n == 1 else f"buyer{n}@example.com", name)
                   for n, name in enumerate(buyer_names, start=1)]
    db.session.add_all([admin, *buyer_users])
    leaf_ids = _seed_categories()
    # What the platform keeps of every sale unless a category or vendor rule says otherwise.
    commission.create_rule(name="Platform default", rate_bp=1_000, currency="EUR")

    variants = stock_levels = 0
    for index, plan in enumerate(plans, start=1):
        owner = demo_user(vendor_owner_email(index), plan.owner_name)
        written = _write_vendor(plan, owner, leaf_ids)
        variants += written[0]
        stock_levels += written[1]
        if progress is not None:
            progress(1)

    return SeedSummary(
        categories=db.session.scalar(select(func.count(Category.id))) or 0,
        vendors=len(plans),
        products=sum(len(plan.products) for plan in plans),
        variants=variants,
        stock_levels=stock_levels,
        users=1 + buyers + len(plans),
        admin_email=ADMIN_EMAIL,
        buyer_email=BUYER_EMAIL,
        vendor_owner_email=vendor_owner_email(1),
    )


@marketplace_cli.command("seed")
@click.option("--vendors", type=click.IntRange(min=1), default=12, show_default=True,
              help="How many vendors (the last two are pending and suspended).")
@click.option("--products", type=click.IntRange(min=0), default=20, show_default=True,
              help="Products per vendor.")
@click.option("--buyers", type=click.IntRange(min=1), default=5, show_default=True,
              help="Buyer accounts.")
@click.option("--seed", "seed", type=int, default=42, show_default=True,
              help="Random seed: the same seed gives the same demo data.")
@click.option("--if-empty", is_flag=True,
              help="Do nothing (and succeed) when the database already has data.")
def seed_command(vendors: int, products: int, buyers: int, seed: int, if_empty: bool) -> None:
    """Fill an empty database with a demo marketplace."""
    if database_has_data():
        if if_empty:
            click.echo("The database already has data; leaving it as it is (--if-empty).")
            return
        raise click.ClickException(
            "The database already has data, so demo data was not added. Seed only a fresh "
            "database (run `flask db upgrade` on an empty one), or pass --if-empty to skip "
            "seeding when data exists."
        )
    embedded = is_embedded(current_app)
    if embedded:
        # This short-lived process runs its own jobs below; an embedded worker thread could
        # take the rebuild and be killed half-way when the command exits.
        current_app.config["JOBS_EMBEDDED_WORKER"] = False
    with click.progressbar(length=vendors, label="Seeding vendors") as bar:
        summary = seed_demo(vendors, products, buyers, seed, progress=bar.update)
    # The search index is rebuilt through the job path, enqueued with the data it indexes.
    queue_rebuild_index()
    # One transaction: an interrupted seed leaves the database empty, not half-seeded.
    db.session.commit()
    if embedded:
        click.echo("Building the search index...")
        run_queued_jobs(current_app._get_current_object())
    else:
        click.echo("The search index is rebuilt by a worker (job on the `search` queue).")
    click.echo(
        f"Seeded {summary.categories} categories, {summary.vendors} vendors, "
        f"{summary.products} products, {summary.variants} variants, "
        f"{summary.stock_levels} stock levels and {summary.users} users."
    )
    # The money flow runs the real checkout, ledger and payout services, which import this
    # package: imported here, when the command runs.
    from payouts.demo import seed_money

    money = seed_money(summary.buyer_email)
    if money.orders:
        click.echo(
            f"Demo money: {len(money.orders)} paid orders, {money.settled} sub-orders settled, "
            f"{money.payouts} payouts sent (sandbox), one refund of "
            f"{Money(money.refunded_minor, money.currency).format()}; the books balance.")
    click.echo(f"Demo logins (password: {summary.password}):")
    click.echo(f"  admin         {summary.admin_email}")
    click.echo(f"  buyer         {summary.buyer_email}")
    click.echo(f"  vendor owner  {summary.vendor_owner_email}")
