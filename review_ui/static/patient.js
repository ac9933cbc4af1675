// The patient's phone pages: scan the kit's code with the camera (BarcodeDetector), share the
// location, count down the reading time, preview the photo. Every step also works by hand.
"use strict";

(function () {
  // What the page says, in its language (the page's JSON data; English without it).
  const wordsData = document.getElementById("patient-words");
  const words = wordsData ? JSON.parse(wordsData.textContent) : {};
  function say(key, english) { return words[key] || english; }

  // Scanning -----------------------------------------------------------------------
  const scanner = document.getElementById("scanner");
  const codeInput = document.getElementById("code");
  const scanStatus = document.getElementById("scan-status");

  function codeFromScan(text) {
    // A label's QR holds the code or a link ending in /u/<code>.
    const match = /\/u\/([^/?#]+)\/?$/.exec(text.trim());
    return match ? decodeURIComponent(match[1]) : text.trim();
  }

  if (scanner && codeInput && "BarcodeDetector" in window && navigator.mediaDevices) {
    scanner.hidden = false;
    const video = document.getElementById("scan-video");
    const start = document.getElementById("scan-button");
    const stop = document.getElementById("scan-stop");
    let stream = null;
    let running = false;

    function halt() {
      running = false;
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
      video.hidden = true;
      stop.hidden = true;
      start.hidden = false;
    }

    start.addEventListener("click", async function () {
      try {
        const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: "environment" }, audio: false,
        });
        video.srcObject = stream;
        video.hidden = false;
        stop.hidden = false;
        start.hidden = true;
        await video.play();
        running = true;
        scanStatus.textContent = say("point", "Point the camera at the code on the test.");
        const look = async function () {
          if (!running) return;
          try {
            const found = await detector.detect(video);
            if (found.length) {
              codeInput.value = codeFromScan(found[0].rawValue);
              scanStatus.textContent = say("read", "Code read:") + " " + codeInput.value;
              halt();
              return;
            }
          } catch (err) { /* a frame that could not be read: try the next */ }
          window.setTimeout(look, 200);
        };
        look();
      } catch (err) {
        halt();
        scanStatus.textContent = say("no_camera", "The camera cannot be used here. Type the code instead.");
        codeInput.focus();
      }
    });
    stop.addEventListener("click", halt);
  }

  // Location ----------------------------------------------------------------------
  const locate = document.getElementById("locate-button");
  if (locate && "geolocation" in navigator) {
    locate.hidden = false;
    const said = document.getElementById("locate-status");
    locate.addEventListener("click", function () {
      said.textContent = say("finding", "Finding where you are…");
      navigator.geolocation.getCurrentPosition(
        function (position) {
          document.getElementById("latitude").value = position.coords.latitude.toFixed(6);
          document.getElementById("longitude").value = position.coords.longitude.toFixed(6);
          said.textContent = say("shared", "Location shared.");
        },
        function () {
          said.textContent = say("not_found", "Your location could not be found. Choose your district below.");
          document.getElementById("region").focus();
        },
        { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 }
      );
    });
  }

  // Reading-time countdown ------------------------------------------------------------
  const timer = document.getElementById("timer");
  if (timer) {
    const from = Date.parse(timer.getAttribute("data-read-from"));
    const untilText = timer.getAttribute("data-read-until");
    const until = untilText ? Date.parse(untilText) : null;
    const note = document.getElementById("timer-note");
    let phase = null;

    function clock(ms) {
      const s = Math.max(0, Math.round(ms / 1000));
      return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
    }
    function tick() {
      const now = Date.now();
      let next;
      if (now < from) {
        next = "wait";
        timer.textContent = clock(from - now);
      } else if (until === null || now <= until) {
        next = "ready";
        timer.textContent = until === null ? say("read_now", "Read now") : clock(until - now);
      } else {
        next = "late";
        timer.textContent = say("too_late", "Too late");
      }
      if (next !== phase) {
        phase = next;
        timer.classList.toggle("timer--ready", phase === "ready");
        timer.classList.toggle("timer--late", phase === "late");
        note.textContent = {
          wait: say("wait", "Wait until the timer reaches 00:00, then take the photo."),
          ready: until === null
            ? say("ready", "Read it now: take the photo.")
            : say("ready_until", "Read it now: take the photo before the timer ends."),
          late: say("late", "The reading time is over. The result may be wrong: send the photo "
            + "anyway, a clinician will judge it, or use a new test."),
        }[phase];
      }
    }
    tick();
    window.setInterval(tick, 1000);
  }

  // Photo preview -------------------------------------------------------------------
  const input = document.getElementById("photo");
  const preview = document.getElementById("photo-preview");
  if (input && preview) {
    input.addEventListener("change", function () {
      const file = input.files && input.files[0];
      if (!file) { preview.hidden = true; return; }
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    });
  }
})();
