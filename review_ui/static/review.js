// The clinicians' pages: one key per action, the photo viewer, the undo countdown.
// Plain JavaScript; every action is also a normal button or link.
"use strict";

(function () {
  // Keys ----------------------------------------------------------------------
  // Keys are for typing only in fields that take text: a slider, a checkbox or a button
  // that has the focus (after a touch or a click) leaves the decision keys working.
  const NOT_TEXT = ["range", "checkbox", "radio", "button", "submit", "reset", "color"];
  function typing(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName;
    if (tag === "INPUT") return NOT_TEXT.indexOf((target.type || "").toLowerCase()) < 0;
    return tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  let acted = false;
  function activate(element) {
    if (!element || acted) return;
    if (element.tagName === "BUTTON" && element.type === "submit") acted = true;
    element.click();
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
    const key = event.key;
    if (key === "Escape") {
      const back = document.querySelector('[data-key="escape"]');
      if (back) { event.preventDefault(); activate(back); }
      return;
    }
    if (typing(event.target)) return;
    if (key === "Enter") {
      // Enter confirms only when no other control has the focus (Enter there activates it).
      const focus = document.activeElement;
      if (focus && focus !== document.body && focus.id !== "main" && focus.id !== "viewer") return;
      const confirm = document.getElementById("confirm-button");
      if (confirm) { event.preventDefault(); activate(confirm); }
      return;
    }
    if (key.length !== 1) return;
    const target = document.querySelector('[data-key="' + key.toLowerCase() + '"]');
    if (target) { event.preventDefault(); activate(target); }
  });

  // A photo taken outside the read window: a result needs its own key (A) first --------
  const decision = document.getElementById("decision-form");
  const timingOk = document.getElementById("read-time-ok");
  if (decision && timingOk) {
    decision.addEventListener("submit", function (event) {
      const choice = event.submitter ? event.submitter.value : "confirm";
      if (choice === "retake" || timingOk.checked) return;
      event.preventDefault();
      acted = false;
      document.getElementById("read-time-ask").hidden = false;
      timingOk.focus();
    });
  }

  // Photo viewer: zoom, pan, brightness and contrast ------------------------------
  const viewer = document.getElementById("viewer");
  const photo = document.getElementById("photo");
  if (viewer && photo) {
    const view = { scale: 1, x: 0, y: 0, fit: 1 };
    const pointers = new Map();
    let pinch = null;

    function apply() {
      photo.style.transform =
        "translate(" + view.x + "px," + view.y + "px) scale(" + view.scale + ")";
    }
    function fit() {
      const w = photo.naturalWidth || 1;
      const h = photo.naturalHeight || 1;
      view.fit = Math.min(viewer.clientWidth / w, viewer.clientHeight / h);
      view.scale = view.fit;
      view.x = (viewer.clientWidth - w * view.scale) / 2;
      view.y = (viewer.clientHeight - h * view.scale) / 2;
      apply();
    }
    function zoomAt(factor, cx, cy) {
      const next = Math.min(Math.max(view.scale * factor, view.fit * 0.5), view.fit * 16);
      const k = next / view.scale;
      view.x = cx - (cx - view.x) * k;
      view.y = cy - (cy - view.y) * k;
      view.scale = next;
      apply();
    }
    function centre() {
      return [viewer.clientWidth / 2, viewer.clientHeight / 2];
    }

    if (photo.complete) fit(); else photo.addEventListener("load", fit);
    window.addEventListener("resize", fit);

    viewer.addEventListener("wheel", function (event) {
      event.preventDefault();
      const box = viewer.getBoundingClientRect();
      zoomAt(event.deltaY < 0 ? 1.2 : 1 / 1.2, event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });

    viewer.addEventListener("pointerdown", function (event) {
      viewer.setPointerCapture(event.pointerId);
      pointers.set(event.pointerId, [event.clientX, event.clientY]);
    });
    viewer.addEventListener("pointermove", function (event) {
      const last = pointers.get(event.pointerId);
      if (!last) return;
      pointers.set(event.pointerId, [event.clientX, event.clientY]);
      if (pointers.size === 2) {
        const [a, b] = Array.from(pointers.values());
        const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
        if (pinch) {
          const box = viewer.getBoundingClientRect();
          zoomAt(distance / pinch, (a[0] + b[0]) / 2 - box.left, (a[1] + b[1]) / 2 - box.top);
        }
        pinch = distance;
        return;
      }
      view.x += event.clientX - last[0];
      view.y += event.clientY - last[1];
      apply();
    });
    function release(event) {
      pointers.delete(event.pointerId);
      if (pointers.size < 2) pinch = null;
    }
    viewer.addEventListener("pointerup", release);
    viewer.addEventListener("pointercancel", release);

    viewer.addEventListener("keydown", function (event) {
      const step = 40;
      const [cx, cy] = centre();
      const moves = {
        "+": function () { zoomAt(1.25, cx, cy); },
        "=": function () { zoomAt(1.25, cx, cy); },
        "-": function () { zoomAt(0.8, cx, cy); },
        "0": fit,
        ArrowLeft: function () { view.x += step; apply(); },
        ArrowRight: function () { view.x -= step; apply(); },
        ArrowUp: function () { view.y += step; apply(); },
        ArrowDown: function () { view.y -= step; apply(); },
      };
      const move = moves[event.key];
      if (move) { event.preventDefault(); event.stopPropagation(); move(); }
    });

    document.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        const [cx, cy] = centre();
        const how = button.getAttribute("data-zoom");
        if (how === "in") zoomAt(1.25, cx, cy);
        else if (how === "out") zoomAt(0.8, cx, cy);
        else fit();
      });
    });

    const brightness = document.getElementById("brightness");
    const contrast = document.getElementById("contrast");
    function filters() {
      photo.style.filter =
        "brightness(" + brightness.value + "%) contrast(" + contrast.value + "%)";
    }
    if (brightness && contrast) {
      brightness.addEventListener("input", filters);
      contrast.addEventListener("input", filters);
    }
  }

  // Undo countdown -------------------------------------------------------------------
  const bar = document.querySelector("[data-undo-seconds]");
  if (bar) {
    let left = parseInt(bar.getAttribute("data-undo-seconds"), 10);
    const shown = bar.querySelector("[data-undo-countdown]");
    const timer = window.setInterval(function () {
      left -= 1;
      if (shown) shown.textContent = String(Math.max(left, 0));
      if (left <= 0) {
        window.clearInterval(timer);
        bar.remove(); // too late: the decision has taken effect
      }
    }, 1000);
  }
})();
