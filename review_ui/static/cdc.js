// CDC live view: the feed of tests started and confirmed positives, pushed by the
// server (EventSource on /cdc/stream). Alerts are visual only: a highlighted item,
// a banner (role="alert"), a count in the tab title; nothing makes a sound.
"use strict";

(function () {
  const feed = document.getElementById("live-feed");
  if (!feed || !window.EventSource) return;
  const status = document.getElementById("feed-status");
  const empty = document.getElementById("feed-empty");
  const banner = document.getElementById("live-alert");
  const bannerText = document.getElementById("live-alert-text");
  const counts = {
    started: document.getElementById("count-started"),
    positive: document.getElementById("count-positive"),
  };
  const MAX_ITEMS = 100;
  const baseTitle = document.title;
  let unseen = 0;

  function setStatus(text, live) {
    status.textContent = text;
    status.classList.toggle("badge--info", live);
    status.classList.toggle("badge--low", !live);
  }

  function text(tag, className, value) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    el.textContent = value;
    return el;
  }

  function when(iso) {
    // Stored times are UTC; show them as the server-rendered items do.
    return iso.slice(0, 16).replace("T", " ") + " UTC";
  }

  function render(item) {
    const li = document.createElement("li");
    li.className = "feed-item feed-item--" + item.kind + " feed-item--new";
    li.dataset.eventId = item.id;
    li.appendChild(text("span", "badge " + (item.kind === "positive" ? "badge--positive" : "badge--info"), item.label));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(text("strong", "feed-item__where", item.region_name));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(text("span", "muted", item.product_code + (item.lot_number ? " · lot " + item.lot_number : "")));
    li.appendChild(document.createTextNode(" "));
    const time = text("time", "", when(item.at));
    time.setAttribute("datetime", item.at);
    li.appendChild(time);
    if (item.case_url) {
      li.appendChild(document.createTextNode(" "));
      const link = text("a", "", "Open case");
      link.href = item.case_url;
      link.appendChild(text("span", "visually-hidden", " of test " + item.test_id));
      li.appendChild(link);
    }
    return li;
  }

  function receive(event) {
    let item;
    try {
      item = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (feed.querySelector('[data-event-id="' + item.id + '"]')) return; // already shown
    feed.insertBefore(render(item), feed.firstChild);
    while (feed.children.length > MAX_ITEMS) feed.removeChild(feed.lastChild);
    if (empty) empty.hidden = true;
    const counter = counts[item.kind];
    if (counter) counter.textContent = String(Number(counter.textContent) + 1);
    if (item.kind === "positive") {
      bannerText.textContent = "New confirmed positive in " + item.region_name + " (test " + item.test_id + ").";
      if (item.case_url) {
        const link = text("a", "", "Open the case");
        link.href = item.case_url;
        bannerText.appendChild(document.createTextNode(" "));
        bannerText.appendChild(link);
      }
      banner.hidden = false;
      if (document.hidden) {
        unseen += 1;
        document.title = "(" + unseen + ") " + baseTitle;
      }
      // Figures (map, charts, table) refresh through htmx on this event.
      document.body.dispatchEvent(new CustomEvent("vigil:positive", { detail: item }));
    } else if (window.vigilAnnounce) {
      window.vigilAnnounce("Active test started in " + item.region_name + ".");
    }
  }

  const source = new EventSource(feed.dataset.stream);
  source.addEventListener("open", function () { setStatus("Live", true); });
  source.addEventListener("error", function () {
    // EventSource reconnects by itself, sending Last-Event-ID: nothing is lost.
    setStatus(source.readyState === EventSource.CLOSED ? "Disconnected: reload the page" : "Reconnecting…", false);
  });
  source.addEventListener("test.started", receive);
  source.addEventListener("report.positive", receive);

  document.getElementById("live-alert-close").addEventListener("click", function () {
    banner.hidden = true;
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      unseen = 0;
      document.title = baseTitle;
    }
  });
  window.addEventListener("beforeunload", function () { source.close(); });
})();
