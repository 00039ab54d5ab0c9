"""Language and currency: the buyer's choice first, then the browser's, then the default."""

from flask_babel import force_locale

from marketplace.i18n import text_direction


def test_the_page_speaks_the_browsers_language_when_nothing_was_chosen(client):
    page = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})

    html = page.get_data(as_text=True)
    assert '<html lang="de" dir="ltr">' in html
    assert "Anmelden" in html


def test_an_unsupported_browser_language_falls_back_to_english(client):
    page = client.get("/", headers={"Accept-Language": "pt-BR"})

    assert '<html lang="en" dir="ltr">' in page.get_data(as_text=True)


def test_choosing_a_language_overrides_the_browser(client, post_form):
    answer = post_form("/preferences/language", {"locale": "de", "next": "/"})

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"
    page = client.get("/", headers={"Accept-Language": "en"})
    assert '<html lang="de"' in page.get_data(as_text=True)


def test_an_unknown_language_choice_is_refused_with_a_message(client, post_form):
    answer = post_form("/preferences/language", {"locale": "xx"},
                       headers={"Accept": "application/json"})

    assert answer.status_code == 422
    assert "locale" in answer.get_json()["error"]["fields"]


def test_the_switcher_does_not_redirect_off_site(post_form):
    answer = post_form("/preferences/language", {"locale": "en", "next": "https://evil.test/"})

    assert answer.headers["Location"] == "/"


def test_choosing_a_currency_marks_it_selected_in_the_switcher(client, post_form):
    post_form("/preferences/currency", {"currency": "JPY", "next": "/"})

    html = client.get("/").get_data(as_text=True)
    assert '<option value="JPY" selected>JPY</option>' in html


def test_right_to_left_languages_set_the_page_direction(app):
    with app.test_request_context("/"):
        with force_locale("ar"):
            assert text_direction() == "rtl"
        with force_locale("de"):
            assert text_direction() == "ltr"


def test_a_job_without_a_request_speaks_the_default_language_and_currency(app):
    from flask_babel import gettext

    from marketplace.i18n import current_currency

    with app.app_context():
        assert gettext("Log in") == "Log in"
        assert current_currency() == "EUR"
