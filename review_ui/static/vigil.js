// Shared page behaviour, kept tiny: announce htmx results to screen readers and
// move focus to swapped-in content that asks for it (data-focus).
"use strict";

(function () {
  function announce(text) {
    const region = document.getElementById("announcer");
    if (!region || !text) return;
    region.textContent = "";
    // A fresh text node after a tick makes screen readers read it again.
    window.setTimeout(function () { region.textContent = text; }, 50);
  }
  window.vigilAnnounce = announce;

  document.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail.target;
    const focus = target.querySelector("[data-focus]");
    if (focus) focus.focus();
    const said = target.querySelector("[data-announce]");
    if (said) announce(said.getAttribute("data-announce"));
  });
})();
