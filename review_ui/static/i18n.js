// Tells the server the browser's time zone (the vigil_tz cookie), so the pages show times
// in the reader's zone; until it has, they show the region's zone.
"use strict";

(function () {
  let zone = null;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (err) {
    return;
  }
  if (!zone || !/^[A-Za-z0-9_+\-/]+$/.test(zone)) return;
  const set = document.cookie.split("; ").some(function (c) { return c === "vigil_tz=" + zone; });
  if (!set) document.cookie = "vigil_tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
})();
