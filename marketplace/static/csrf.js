// CSRF tokens for pages served without one.
//
// The storefront's page cache serves a visitor who has no session yet a page whose tokens are
// empty (buyers/page_cache.py): creating a session for every such request would cost more than
// the page. When that visitor starts using a POST form (focuses a field or a button) this asks
// /csrf-token for their token, which starts their session, and fills it into the page's empty
// token fields; a form submitted before the answer came waits for it. Without JavaScript the
// server sends the tokenless form back to the page, which then carries the token.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta || meta.content || !window.fetch) return;  // the page came with this visitor's token
  var pending = null;

  function fill(token) {
    meta.content = token;
    Array.prototype.forEach.call(document.querySelectorAll('input[name="csrf_token"]'),
      function (input) { if (!input.value) input.value = token; });
    return token;
  }

  function token() {
    if (!pending) {
      pending = fetch(meta.dataset.url, {credentials: "same-origin",
                                         headers: {Accept: "application/json"}})
        .then(function (response) {
          if (!response.ok) throw new Error("csrf-token answered " + response.status);
          return response.json();
        })
        .then(function (answer) { return fill(answer.csrf_token); })
        .catch(function (error) { pending = null; throw error; });
    }
    return pending;
  }

  function needsToken(form) {
    var input = form && form.querySelector && form.querySelector('input[name="csrf_token"]');
    return !!input && !input.value && !form.dataset.csrfTried
      && (form.method || "").toLowerCase() === "post";
  }

  document.addEventListener("focusin", function (event) {
    if (needsToken(event.target.form)) token().catch(function () {});
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!needsToken(form)) return;
    event.preventDefault();
    var submitter = event.submitter;
    function send() {
      // requestSubmit keeps the button's name and value; the token is filled by now, so this
      // handler lets the second submit event through.
      if (form.requestSubmit) form.requestSubmit(submitter || undefined);
      else form.submit();
    }
    // If the token can't be had, the form goes without it and the server answers as it does
    // without JavaScript.
    token().then(send, function () {
      form.dataset.csrfTried = "1";
      send();
    });
  });
})();
