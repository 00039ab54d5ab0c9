"""Every string a page or message can show has a German translation, so no German visitor
meets an English phrase that someone forgot to send through `make i18n-update`."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
PACKAGES = ("marketplace", "vendors", "buyers", "payouts")


def _source_messages() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / package, METHODS, keywords=KEYWORDS):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_message_in_the_code_has_a_german_translation():
    with open(ROOT / "translations" / "de" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    translated = {
        message.id[0] if isinstance(message.id, tuple) else message.id
        for message in catalog
        if message.id and not message.fuzzy and (
            all(message.string) if isinstance(message.string, tuple) else message.string)
    }

    missing = sorted(_source_messages() - translated)

    assert missing == [], f"run `make i18n-update` and translate: {missing[:10]}"
