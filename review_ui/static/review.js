// The clinicians' pages: one key per action, the window and photo viewer, the undo
// countdown, and the next item fetched in the background and swapped in without a reload.
// Plain JavaScript; every action is also a normal button, link or form.
"use strict";

(function () {
  let acted = false; // one decision per item, however fast the keys come
  let viewer = null; // the current page's photo viewer: {zoom(factor), fit()}
  let undoTimer = null;
  let preloaded = null; // {url, html, at}: the next item's page, fetched in the background
  let generation = 0; // which swapped-in page is showing (a late answer must not touch a newer one)
  // A page swapped in at once must not take the key meant for the one before it (a double
  // press, a held key): keys act only a moment after an item shows.
  const SETTLE_MS = 400;
  let keysFrom = 0;

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

  function activate(element) {
    if (!element || acted) return;
    if (element.tagName === "BUTTON" && element.type === "submit") acted = true;
    element.click();
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
    if (event.repeat || Date.now() < keysFrom) return;
    const key = event.key;
    if (key === "Escape") {
      const back = document.querySelector('[data-key~="escape"]');
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
    if (viewer && (key === "+" || key === "=" || key === "-" || key === "0")) {
      event.preventDefault();
      if (key === "0") viewer.fit(); else viewer.zoom(key === "-" ? 0.8 : 1.25);
      return;
    }
    if (!/^[a-z]$/i.test(key)) return;
    const target = document.querySelector('[data-key~="' + key.toLowerCase() + '"]');
    if (target) { event.preventDefault(); activate(target); }
  });

  // A photo taken outside the read window: a result needs its own key (A) first --------
  function guardTiming(decision) {
    const timingOk = document.getElementById("read-time-ok");
    if (!decision || !timingOk) return;
    decision.addEventListener("submit", function (event) {
      const choice = event.submitter ? event.submitter.value : "confirm";
      if (choice === "retake" || timingOk.checked) return;
      event.preventDefault();
      acted = false;
      document.getElementById("read-time-ask").hidden = false;
      timingOk.focus();
    });
  }

  // The window and the photo: W swaps which one is large ----------------------------
  function setUpStage() {
    const stage = document.getElementById("stage");
    const button = document.getElementById("switch-view");
    if (!stage || !button) return;
    function swap() {
      const photoLarge = stage.getAttribute("data-view") !== "photo";
      stage.setAttribute("data-view", photoLarge ? "photo" : "window");
      button.firstChild.textContent = photoLarge ? "Show the window large " : "Show the photo large ";
      if (viewer) window.requestAnimationFrame(viewer.fit);
    }
    button.addEventListener("click", swap);
    // A click on the small one makes it the large one.
    stage.addEventListener("click", function (event) {
      const small = stage.getAttribute("data-view") === "photo" ? "pane-window" : "pane-photo";
      if (event.target.closest && event.target.closest("#" + small)) swap();
    });
  }

  // Photo viewer: zoom toward the window, pan, brightness and contrast ------------------
  function setUpViewer() {
    const box = document.getElementById("viewer");
    const photo = document.getElementById("photo");
    const stage = document.getElementById("stage");
    if (!box || !photo) return;
    const view = { scale: 1, x: 0, y: 0, fit: 1 };
    const pointers = new Map();
    let pinch = null;
    // Where the result window is in the photo (fractions): zoom goes toward it.
    const windowBox = ((stage && stage.getAttribute("data-window-box")) || "")
      .split(",").filter(Boolean).map(Number);

    function apply() {
      photo.style.transform =
        "translate(" + view.x + "px," + view.y + "px) scale(" + view.scale + ")";
    }
    function fit() {
      const w = photo.naturalWidth || 1;
      const h = photo.naturalHeight || 1;
      view.fit = Math.min(box.clientWidth / w, box.clientHeight / h) || 1;
      view.scale = view.fit;
      view.x = (box.clientWidth - w * view.scale) / 2;
      view.y = (box.clientHeight - h * view.scale) / 2;
      apply();
    }
    function bounded(scale) {
      return Math.min(Math.max(scale, view.fit * 0.5), view.fit * 24);
    }
    function zoomAt(factor, cx, cy) {
      const next = bounded(view.scale * factor);
      const k = next / view.scale;
      view.x = cx - (cx - view.x) * k;
      view.y = cy - (cy - view.y) * k;
      view.scale = next;
      apply();
    }
    // Zoom with the result window brought to the middle (the centre without one).
    function zoom(factor) {
      if (windowBox.length !== 4 || windowBox.some(isNaN)) {
        zoomAt(factor, box.clientWidth / 2, box.clientHeight / 2);
        return;
      }
      view.scale = bounded(view.scale * factor);
      const wx = ((windowBox[0] + windowBox[2]) / 2) * photo.naturalWidth;
      const wy = ((windowBox[1] + windowBox[3]) / 2) * photo.naturalHeight;
      view.x = box.clientWidth / 2 - wx * view.scale;
      view.y = box.clientHeight / 2 - wy * view.scale;
      apply();
    }
    function large() {
      return !stage || stage.getAttribute("data-view") === "photo";
    }

    if (photo.complete) fit(); else photo.addEventListener("load", fit);
    viewer = { zoom: zoom, fit: fit };

    box.addEventListener("wheel", function (event) {
      if (!large()) return;
      event.preventDefault();
      const r = box.getBoundingClientRect();
      zoomAt(event.deltaY < 0 ? 1.2 : 1 / 1.2, event.clientX - r.left, event.clientY - r.top);
    }, { passive: false });

    box.addEventListener("pointerdown", function (event) {
      if (!large()) return; // the small photo is a button that makes it large
      box.setPointerCapture(event.pointerId);
      pointers.set(event.pointerId, [event.clientX, event.clientY]);
    });
    box.addEventListener("pointermove", function (event) {
      const last = pointers.get(event.pointerId);
      if (!last) return;
      pointers.set(event.pointerId, [event.clientX, event.clientY]);
      if (pointers.size === 2) {
        const [a, b] = Array.from(pointers.values());
        const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
        if (pinch) {
          const r = box.getBoundingClientRect();
          zoomAt(distance / pinch, (a[0] + b[0]) / 2 - r.left, (a[1] + b[1]) / 2 - r.top);
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
    box.addEventListener("pointerup", release);
    box.addEventListener("pointercancel", release);

    box.addEventListener("keydown", function (event) {
      const step = 40;
      const moves = {
        ArrowLeft: function () { view.x += step; },
        ArrowRight: function () { view.x -= step; },
        ArrowUp: function () { view.y += step; },
        ArrowDown: function () { view.y -= step; },
      };
      const move = moves[event.key];
      if (move) { event.preventDefault(); move(); apply(); }
    });

    document.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        const how = button.getAttribute("data-zoom");
        if (how === "in") zoom(1.25);
        else if (how === "out") zoom(0.8);
        else fit();
      });
    });

    const brightness = document.getElementById("brightness");
    const contrast = document.getElementById("contrast");
    if (brightness && contrast) {
      const shown = [photo].concat(Array.from(document.querySelectorAll("#pane-window image")));
      const filters = function () {
        const filter = "brightness(" + brightness.value + "%) contrast(" + contrast.value + "%)";
        shown.forEach(function (element) { element.style.filter = filter; });
      };
      brightness.addEventListener("input", filters);
      contrast.addEventListener("input", filters);
    }
  }

  // Undo countdown -------------------------------------------------------------------
  function startUndoCountdown() {
    if (undoTimer) window.clearInterval(undoTimer);
    undoTimer = null;
    const bar = document.querySelector("[data-undo-seconds]");
    if (!bar) return;
    let left = parseInt(bar.getAttribute("data-undo-seconds"), 10);
    const shown = bar.querySelector("[data-undo-countdown]");
    undoTimer = window.setInterval(function () {
      left -= 1;
      if (shown) shown.textContent = String(Math.max(left, 0));
      if (left <= 0) {
        window.clearInterval(undoTimer);
        undoTimer = null;
        bar.remove(); // too late: the decision has taken effect
      }
    }, 1000);
  }

  // The next item, fetched while this one is read --------------------------------------
  function isItem(url) {
    return /\/review\/items\/[^/?#]+(\?|$)/.test(new URL(url, window.location.href).pathname);
  }

  function preload() {
    preloaded = null;
    const skip = document.getElementById("skip-link");
    if (!skip || !window.fetch || !window.DOMParser) return;
    const at = Date.now();
    const mine = generation;
    fetch(skip.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok || !isItem(response.url)) return null;
        return response.text().then(function (html) {
          if (mine !== generation) return;
          preloaded = { url: response.url, html: html, at: at };
          // Its pictures too, into the browser's cache (they are sent cacheable, private).
          const doc = new DOMParser().parseFromString(html, "text/html");
          doc.querySelectorAll("#photo, #pane-window image").forEach(function (element) {
            const src = element.getAttribute("src") || element.getAttribute("href");
            if (src) new Image().src = src;
          });
        });
      })
      .catch(function () { preloaded = null; });
  }

  // Put a page's <main> in place of this one's, as if it had been loaded.
  function show(html, url, fetchedAt) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const main = doc.getElementById("main");
    if (!main) { window.location.assign(url); return; }
    if (fetchedAt) {
      // Fetched a while ago: its reading time starts now, not when it was fetched.
      const opened = main.querySelector('input[name="opened_at"]');
      if (opened) opened.value = String(parseFloat(opened.value) + (Date.now() - fetchedAt) / 1000);
      main.querySelectorAll(".undo-bar").forEach(function (bar) { bar.remove(); });
    }
    document.getElementById("main").replaceWith(document.adoptNode(main));
    document.title = doc.title;
    if (url !== window.location.href) window.history.pushState({ swapped: true }, "", url);
    window.scrollTo(0, 0);
    init();
    keysFrom = Date.now() + SETTLE_MS;
    // Said on the page too, for whoever drives it by script (the browser tests).
    const root = document.documentElement;
    root.removeAttribute("data-keys-ready");
    window.setTimeout(function () { root.setAttribute("data-keys-ready", ""); }, SETTLE_MS);
  }

  // The decision goes by fetch: the preloaded next item shows at once, then the answer's
  // undo bar (naming the test just decided) and count are put on it.
  function sendInBackground(decision) {
    if (!decision || !window.fetch || !window.DOMParser) return;
    decision.addEventListener("submit", function (event) {
      if (event.defaultPrevented) return;
      event.preventDefault();
      const data = new FormData(decision);
      if (event.submitter && event.submitter.name) {
        data.append(event.submitter.name, event.submitter.value);
      }
      const next = preloaded;
      if (next) show(next.html, next.url, next.at);
      const mine = generation;
      fetch(decision.action, { method: "POST", body: data, credentials: "same-origin" })
        .then(function (response) {
          return response.text().then(function (html) {
            const sameItem = next && response.ok && new URL(response.url).pathname === new URL(next.url).pathname;
            if (!sameItem) { show(html, response.url); return; }
            if (mine !== generation) return; // already moved on from that item
            const doc = new DOMParser().parseFromString(html, "text/html");
            const bar = doc.querySelector(".undo-bar");
            const head = document.querySelector(".review-head");
            if (bar && head) head.after(document.adoptNode(bar));
            const count = doc.getElementById("left-count");
            const here = document.getElementById("left-count");
            if (count && here) here.textContent = count.textContent;
            startUndoCountdown();
          });
        })
        .catch(function () { window.location.reload(); });
    });
  }

  function init() {
    generation += 1;
    acted = false;
    viewer = null;
    const decision = document.getElementById("decision-form");
    guardTiming(decision); // first: it holds back a result that needs the timing key
    sendInBackground(decision);
    setUpStage();
    setUpViewer();
    startUndoCountdown();
    preload();
  }

  document.documentElement.setAttribute("data-keys-ready", "");
  window.addEventListener("resize", function () { if (viewer) viewer.fit(); });
  window.addEventListener("popstate", function () { window.location.reload(); });
  init();
})();
