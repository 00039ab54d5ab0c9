// Mounts Stripe's Payment Element and confirms the PaymentIntent in the browser. Card data
// goes to Stripe only; the outcome reaches the server as a webhook, never from this page.
(function () {
  "use strict";
  var form = document.getElementById("stripe-payment-form");
  if (!form) { return; }
  var message = document.getElementById("payment-error");
  var button = document.getElementById("stripe-pay-button");

  function show(text) {
    message.textContent = text;
    message.hidden = false;
  }

  if (typeof window.Stripe !== "function") {
    show(form.dataset.unavailable);
    return;
  }
  var stripe = window.Stripe(form.dataset.publishableKey, { locale: form.dataset.locale || "auto" });
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  elements.create("payment").mount("#stripe-payment-element");
  button.disabled = false;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    message.hidden = true;
    stripe.confirmPayment({
      elements: elements,
      confirmParams: { return_url: form.dataset.returnUrl }
    }).then(function (result) {
      // Only reached when the confirmation failed at once (a decline, an invalid card);
      // otherwise Stripe has already sent the buyer to return_url.
      if (result.error) {
        show(result.error.message);
        button.disabled = false;
      }
    });
  });
})();
