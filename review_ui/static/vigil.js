// Shared page behaviour, kept tiny: announce content htmx swaps in (data-announce) to
// screen readers, once per change, and move focus to swapped-in content that asks (data-focus).
"use strict";

(function () {
  let lastSaid = null;
  function announce(text) {
    const region = document.getElementById("announcer");
    if (!region || !text || text === lastSaid) return;
    lastSaid = text;
    region.textContent = "";
    // A fresh text node after a tick makes screen readers read it again.
    window.setTimeout(function () { region.textContent = text; }, 50);
  }
  window.vigilAnnounce = announce;

  function find(root, selector) {
    if (root.matches && root.matches(selector)) return root;
    return root.querySelector ? root.querySelector(selector) : null;
  }

  document.addEventListener("htmx:load", function (event) {
    const root = event.detail && event.detail.elt;
    if (!root || root === document.body) return;
    const focus = find(root, "[data-focus]");
    if (focus) focus.focus();
    const said = find(root, "[data-announce]");
    if (said) announce(said.getAttribute("data-announce"));
  });

  document.addEventListener("DOMContentLoaded", function () {
    // Remember what the page already says, so polling announces only changes.
    const said = document.querySelector("[data-announce]");
    if (said) lastSaid = said.getAttribute("data-announce");
  });
})();
