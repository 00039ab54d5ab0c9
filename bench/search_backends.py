"""Both search engines on the same synthetic catalog: index build rate and query latency.

``python -m bench.search_backends [--products 200000] [--queries 40] [--engines whoosh,postgres]``

Generates N ``ProductDocument`` values (deterministic per ``--seed``: ~N/200 vendors, a
three-level category tree of 240 leaves, titles like "Rustic Oak Chair", 20-40 word
descriptions over a vocabulary of a few thousand words, German text on a third of the
products and German-only products, colour/size/material attributes, skewed prices, ratings,
stock), builds each engine's index with ``rebuild`` (Whoosh in a temporary directory; PostgreSQL
in a scratch database beside ``BENCH_POSTGRES_URL``, created, migrated and dropped), and prints
the build rate and the p50/p95 latency of:

- ``category``: empty text, a root or second-level category, every facet;
- ``one word``: a product noun, every facet;
- ``two words + vendor``: material and noun, one vendor;
- ``misspelled``: a noun or material with two letters swapped or one dropped (corrected).

Each kind runs ``--queries`` different queries after a few unmeasured warm-up ones; the first
query after the build (cold caches) is printed separately. Figures only: it exits 0 whatever
they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from marketplace.search.types import ProductDocument, SearchQuery

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PRICE_BUCKETS = (2000, 5000, 10000, 25000, 50000)

ROOTS = ("Furniture", "Lighting", "Kitchen", "Garden", "Textiles", "Decor", "Storage",
         "Office", "Outdoor", "Kids", "Bath", "Tools")
BRANCHES = ("Classic", "Modern", "Vintage", "Compact", "Premium")
NOUNS = ("chair", "table", "lamp", "sofa", "shelf", "desk", "stool", "bench", "cabinet", "rug",
         "mirror", "vase", "clock", "bowl", "basket", "pillow", "blanket", "curtain", "candle",
         "planter", "kettle", "teapot", "mug", "plate", "knife", "pan", "drawer", "bed",
         "wardrobe", "frame", "hammock", "lantern", "towel", "tray", "crate", "trolley",
         "easel", "cushion", "dresser", "sideboard")
MATERIALS = ("oak", "walnut", "pine", "birch", "teak", "bamboo", "rattan", "linen", "cotton",
             "wool", "leather", "steel", "brass", "copper", "glass", "ceramic", "marble",
             "concrete", "velvet", "jute")
ADJECTIVES = ("rustic", "elegant", "sturdy", "minimal", "handmade", "nordic", "classic",
              "modern", "vintage", "compact", "folding", "stackable", "round", "square",
              "tall", "low", "soft", "bright", "dark", "natural", "polished", "woven",
              "carved", "painted", "industrial", "cosy", "airy", "bold", "quiet", "warm")
COLOURS = ("black", "white", "sand", "olive", "navy", "terracotta", "sage", "charcoal",
           "red", "blue", "green", "yellow", "grey", "brown", "pink")
SIZES = ("xs", "s", "m", "l", "xl")
GERMAN = {
    "chair": "Stuhl", "table": "Tisch", "lamp": "Lampe", "sofa": "Sofa", "shelf": "Regal",
    "desk": "Schreibtisch", "stool": "Hocker", "bench": "Bank", "cabinet": "Schrank",
    "rug": "Teppich", "mirror": "Spiegel", "vase": "Vase", "clock": "Uhr", "bowl": "Schale",
    "basket": "Korb", "pillow": "Kissen", "blanket": "Decke", "curtain": "Vorhang",
    "oak": "Eiche", "walnut": "Nussbaum", "pine": "Kiefer", "birch": "Birke",
    "glass": "Glas", "steel": "Stahl", "leather": "Leder", "wool": "Wolle",
}
SYLLABLES = ("ka", "lo", "mi", "ten", "bar", "sel", "dor", "vin", "qua", "ris", "mo", "pel",
             "tu", "gan", "fer", "lis", "ro", "nat", "zen", "ub")


@dataclass(frozen=True)
class Catalog:
    products: int
    seed: int

    def _words(self, rng: random.Random) -> list[str]:
        common = ["with", "for", "and", "made", "from", "the", "solid", "finish", "design",
                  "crafted", "durable", "easy", "clean", "home", "living", "room", "space",
                  "perfect", "gift", "quality", "style", "light", "heavy", "care", "daily"]
        invented = {"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
                    for _ in range(4000)}
        return common * 20 + list(NOUNS) + list(MATERIALS) + list(ADJECTIVES) + sorted(invented)

    def vendors(self) -> list[tuple[int, str]]:
        rng = random.Random(self.seed)
        count = max(1, self.products // 200)
        return [(i + 1, f"{rng.choice(ADJECTIVES).title()} {rng.choice(MATERIALS).title()} "
                        f"Works {i + 1}") for i in range(count)]

    def categories(self) -> list[tuple[tuple[int, ...], tuple[str, ...]]]:
        """Every leaf's (path ids, path names)."""
        leaves, next_id = [], 1
        for root in ROOTS:
            root_id, next_id = next_id, next_id + 1
            for branch in BRANCHES:
                branch_id, next_id = next_id, next_id + 1
                for k in range(4):
                    noun = NOUNS[(len(leaves) + k) % len(NOUNS)]
                    leaves.append(((root_id, branch_id, next_id),
                                   (root, f"{branch} {root}", f"{noun.title()}s")))
                    next_id += 1
        return leaves

    def documents(self) -> Iterator[ProductDocument]:
        rng = random.Random(self.seed)
        words = self._words(rng)
        vendors = self.vendors()
        leaves = self.categories()
        start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        for pid in range(1, self.products + 1):
            vendor_id, vendor_name = vendors[min(int(rng.paretovariate(1.2)) - 1,
                                                 len(vendors) - 1) if rng.random() < 0.3
                                             else rng.randrange(len(vendors))]
            path, names = rng.choice(leaves)
            noun = names[-1][:-1].lower()
            material, adjective = rng.choice(MATERIALS), rng.choice(ADJECTIVES)
            title = f"{adjective.title()} {material.title()} {noun.title()}"
            description = " ".join(rng.choice(words) for _ in range(rng.randint(20, 40)))
            texts = {"en": (title, description)}
            default = "en"
            roll = rng.random()
            if roll < 0.05:
                default = "de"
                texts = {}
            if roll < 0.35:
                german = (f"{GERMAN.get(material, material.title())} "
                          f"{GERMAN.get(noun, noun.title())}")
                texts["de"] = (german, f"{german} aus {GERMAN.get(material, material)}, "
                                       + " ".join(rng.choice(words) for _ in range(15)))
            attributes = {"colour": tuple(sorted(set(rng.sample(COLOURS, rng.randint(1, 3))))),
                          "material": (material,)}
            if rng.random() < 0.5:
                attributes["size"] = tuple(sorted(rng.sample(SIZES, rng.randint(1, 4))))
            price = int(500 * (400 ** rng.random()))
            rated = rng.random() < 0.6
            yield ProductDocument(
                product_id=pid, vendor_id=vendor_id, vendor_name=vendor_name,
                category_path=path, category_names=names, texts=texts, default_locale=default,
                attributes=attributes, price_minor=price, currency="EUR",
                price_base_minor=price, in_stock=rng.random() < 0.85,
                rating_x100=rng.randint(100, 500) if rated else 0,
                rating_count=rng.randint(1, 300) if rated else 0,
                created_at=start + dt.timedelta(seconds=rng.randrange(2 * 365 * 86400)),
            )


def misspell(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:]


def query_kinds(catalog: Catalog) -> dict[str, Callable[[random.Random], SearchQuery]]:
    leaves = catalog.categories()
    upper = sorted({path[0] for path, _ in leaves} | {path[1] for path, _ in leaves})
    vendor_count = len(catalog.vendors())

    def category(rng: random.Random) -> SearchQuery:
        return SearchQuery(category_id=rng.choice(upper), price_buckets=PRICE_BUCKETS)

    def one_word(rng: random.Random) -> SearchQuery:
        return SearchQuery(text=rng.choice(NOUNS), price_buckets=PRICE_BUCKETS)

    def two_words_vendor(rng: random.Random) -> SearchQuery:
        # Vendors drawn with the catalogue's skew: big shops are filtered on more often.
        vendor = min(int(rng.paretovariate(1.2)), vendor_count)
        return SearchQuery(text=f"{rng.choice(MATERIALS)} {rng.choice(NOUNS)}",
                           vendor_ids=(vendor,), price_buckets=PRICE_BUCKETS)

    def misspelled(rng: random.Random) -> SearchQuery:
        word = rng.choice(NOUNS + MATERIALS)
        while len(word) < 4:
            word = rng.choice(NOUNS + MATERIALS)
        return SearchQuery(text=misspell(word, rng), price_buckets=PRICE_BUCKETS)

    return {"category": category, "one word": one_word, "two words + vendor": two_words_vendor,
            "misspelled": misspelled}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure(name: str, backend, catalog: Catalog, queries: int, seed: int) -> None:
    print(f"\n== {name}")
    started = time.perf_counter()
    written = backend.rebuild(catalog.documents())
    elapsed = time.perf_counter() - started
    print(f"build: {written} documents in {elapsed:.1f} s = {written / elapsed:,.0f} docs/s")
    kinds = query_kinds(catalog)
    rng = random.Random(seed + 1)
    first = kinds["category"](rng)
    started = time.perf_counter()
    backend.search(first)
    print(f"first query after the build (cold): {1000 * (time.perf_counter() - started):.0f} ms")
    print(f"{'query':<22}{'p50 ms':>8}{'p95 ms':>8}{'mean hits':>11}  corrected")
    for kind, make in kinds.items():
        for _ in range(5):  # warm-up, not measured
            backend.search(make(rng))
        timings, hits, corrected = [], [], 0
        for _ in range(queries):
            query = make(rng)
            started = time.perf_counter()
            result = backend.search(query)
            timings.append(1000 * (time.perf_counter() - started))
            hits.append(result.total)
            corrected += result.corrected_text is not None
        print(f"{kind:<22}{percentile(timings, 0.5):>8.1f}{percentile(timings, 0.95):>8.1f}"
              f"{statistics.mean(hits):>11,.0f}  {corrected}/{queries}")


def run_whoosh(catalog: Catalog, queries: int, seed: int) -> None:
    from flask import Flask

    from marketplace.search.whoosh import WhooshBackend

    directory = tempfile.mkdtemp(prefix="bench-whoosh-")
    app = Flask("bench")
    app.config.update(REDIS_URL=None, SEARCH_INDEX_DIR=directory)
    try:
        measure("whoosh", WhooshBackend(app), catalog, queries, seed)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_postgres(catalog: Catalog, queries: int, seed: int) -> None:
    from flask_migrate import upgrade

    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.search.postgres import PostgresBackend

    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL).replace(
        "postgresql://", "postgresql+psycopg://", 1)
    name = f"bench_search_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"{admin_url.rsplit('/', 1)[0]}/{name}",
                          "REDIS_URL": None, "SEARCH_BACKEND": "postgres"})
        with app.app_context():
            upgrade()
            measure("postgres", PostgresBackend(app), catalog, queries, seed)
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=40, help="measured queries per kind")
    parser.add_argument("--engines", default="whoosh,postgres")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    catalog = Catalog(args.products, args.seed)
    print(f"{args.products:,} products, {len(catalog.vendors()):,} vendors, "
          f"{len(catalog.categories())} leaf categories; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    engines = {"whoosh": run_whoosh, "postgres": run_postgres}
    for engine in args.engines.split(","):
        engines[engine.strip()](catalog, args.queries, args.seed)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
