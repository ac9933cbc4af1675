// The kit form: builds an rdt-kit/1 description on the template image. The manufacturer
// drags the result window and the code box and clicks each line on the picture, or types
// every position as a number; the JSON it builds is shown and is what the server checks
// (the same validation as an uploaded kit.json). Mistakes the server finds come back in
// the preview fragment, each with the path of its field, and are shown beside that field.
"use strict";

(function () {
  const form = document.getElementById("kit-builder");
  if (!form) return;
  const SVG = "http://www.w3.org/2000/svg";
  const image = document.getElementById("kb-image");
  const overlay = document.getElementById("kb-overlay");
  const json = document.getElementById("kb-json");
  const linesList = document.getElementById("kb-lines");
  const sizeMm = document.getElementById("kb-size-mm");
  const status = document.getElementById("kb-status");

  // What the last drag or click did, in words (read out by screen readers too).
  function say(text) {
    status.textContent = text;
  }

  // The state the JSON is built from; the fields and the drawing show it.
  const kit = {
    spec: "rdt-kit/1",
    product_code: "",
    name: "",
    test_item: { name: "", loinc: "" },
    format: "cassette",
    template: {
      image: "",
      px_per_mm: 10,
      code_box: { x: null, y: null, size: null },
      window: { x: null, y: null, w: null, h: null },
      flow: "down",
    },
    lines: [],
    line_width_mm: 1,
    line_color: "",
    read_time_minutes: { min: 15, max: 30 },
  };

  function get(path) {
    return path.split(".").reduce(function (obj, key) { return obj == null ? undefined : obj[key]; }, kit);
  }

  function set(path, value) {
    const keys = path.split(".");
    const last = keys.pop();
    keys.reduce(function (obj, key) { return obj[key]; }, kit)[last] = value;
  }

  // A number field left empty is absent; one that is not a number is sent as typed,
  // so the server's check names it.
  function fieldValue(input) {
    if (!input.hasAttribute("data-number")) return input.value.trim();
    const text = input.value.trim();
    if (text === "") return null;
    const number = Number(text);
    return Number.isFinite(number) ? number : text;
  }

  function round(value, digits) {
    const factor = Math.pow(10, digits);
    return Math.round(value * factor) / factor;
  }

  // The keys the form has fields for, by where they sit in the description. A loaded
  // kit.json may hold others (template.window_tolerance, a later spec's additions): they
  // are kept as loaded, after the form's own keys, so loading a file loses nothing.
  const FIELDS = {
    "": ["spec", "product_code", "name", "test_item", "format", "template", "lines", "line_width_mm", "line_color", "read_time_minutes"],
    test_item: ["name", "loinc"],
    template: ["image", "px_per_mm", "code_box", "window", "flow"],
    "template.code_box": ["x", "y", "size"],
    "template.window": ["x", "y", "w", "h"],
    read_time_minutes: ["min", "max"],
  };
  const LINE_FIELDS = ["name", "role", "at", "analyte", "present_means"];
  let extra = {}; // by path of FIELDS: the loaded keys not in it

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function at(doc, path) {
    return path ? path.split(".").reduce(function (obj, key) { return isObject(obj) ? obj[key] : undefined; }, doc) : doc;
  }

  function unknown(loaded, fields) {
    const out = {};
    if (isObject(loaded)) {
      Object.keys(loaded).forEach(function (key) { if (fields.indexOf(key) < 0) out[key] = loaded[key]; });
    }
    return out;
  }

  // The description as JSON: empty optional parts left out, in the spec's order.
  function built() {
    const t = kit.template;
    const doc = {
      spec: kit.spec,
      product_code: kit.product_code,
      name: kit.name,
      test_item: { name: kit.test_item.name },
      format: kit.format,
      template: { image: t.image, px_per_mm: t.px_per_mm },
    };
    if (kit.test_item.loinc) doc.test_item.loinc = kit.test_item.loinc;
    const box = t.code_box;
    if (box.x !== null || box.y !== null || box.size !== null) {
      doc.template.code_box = { x: box.x, y: box.y, size: box.size };
    }
    doc.template.window = { x: t.window.x, y: t.window.y, w: t.window.w, h: t.window.h };
    doc.template.flow = t.flow;
    doc.lines = kit.lines.map(function (line) {
      const out = { name: line.name, role: line.role, at: line.at };
      if (line.role === "test") {
        if (line.analyte) out.analyte = line.analyte;
        if (line.present_means === "non-reactive") out.present_means = "non-reactive";
      }
      return Object.assign(out, line.extra);
    });
    if (kit.line_width_mm !== null) doc.line_width_mm = kit.line_width_mm;
    if (kit.line_color) doc.line_color = kit.line_color;
    const read = kit.read_time_minutes;
    if (read.min !== null || read.max !== null) {
      doc.read_time_minutes = {};
      if (read.min !== null) doc.read_time_minutes.min = read.min;
      if (read.max !== null) doc.read_time_minutes.max = read.max;
    }
    Object.keys(FIELDS).forEach(function (path) {
      const part = at(doc, path);
      if (isObject(part)) Object.assign(part, extra[path]);
    });
    return doc;
  }

  // Fields -> state ------------------------------------------------------------

  form.addEventListener("input", function (event) {
    const input = event.target;
    const key = input.getAttribute("data-key");
    const row = input.closest("[data-line]");
    if (input.id === "kb-window-mm") {
      // The scale from a length a person can measure: the window's, along the flow.
      const mm = Number(input.value);
      const px = alongPx();
      if (mm > 0 && px > 0) kit.template.px_per_mm = round(px / mm, 4);
    } else if (key) {
      set(key, fieldValue(input));
    } else if (row && input.hasAttribute("data-line-key")) {
      const line = kit.lines[Number(row.getAttribute("data-line"))];
      line[input.getAttribute("data-line-key")] = fieldValue(input);
      if (input.getAttribute("data-line-key") === "role") showLineFields(row, line);
    } else {
      return;
    }
    update(input);
  });

  // State -> fields, drawing and JSON -----------------------------------------

  function update(typing) {
    form.querySelectorAll("[data-key]").forEach(function (input) {
      if (input === typing) return; // never rewrite what the person is typing
      const value = get(input.getAttribute("data-key"));
      input.value = value === null || value === undefined ? "" : String(value);
    });
    linesList.querySelectorAll("[data-line]").forEach(function (row) {
      const line = kit.lines[Number(row.getAttribute("data-line"))];
      row.querySelectorAll("[data-line-key]").forEach(function (input) {
        if (input === typing) return;
        const value = line[input.getAttribute("data-line-key")];
        input.value = value === null || value === undefined ? "" : String(value);
      });
    });
    const windowMm = document.getElementById("kb-window-mm");
    if (windowMm !== typing) {
      const scale = kit.template.px_per_mm;
      windowMm.value = alongPx() > 0 && scale > 0 ? String(round(alongPx() / scale, 2)) : "";
    }
    json.value = JSON.stringify(built(), null, 2);
    sizeMm.textContent = windowSize();
    draw();
  }

  // The window's length along the flow, in template pixels (0 until it is drawn).
  function alongPx() {
    const w = kit.template.window;
    const length = kit.template.flow === "up" || kit.template.flow === "down" ? w.h : w.w;
    return typeof length === "number" && length > 0 ? length : 0;
  }

  function windowSize() {
    const w = kit.template.window;
    const scale = kit.template.px_per_mm;
    if (!(w.w > 0 && w.h > 0 && scale > 0)) return "";
    const across = kit.template.flow === "up" || kit.template.flow === "down";
    const length = (across ? w.h : w.w) / scale;
    const width = (across ? w.w : w.h) / scale;
    return "The result window is " + length.toFixed(1) + " mm long (along the flow) and " + width.toFixed(1) + " mm wide.";
  }

  // The lines ------------------------------------------------------------------

  function freeName(role) {
    const base = role === "control" ? "C" : "T";
    const taken = kit.lines.map(function (line) { return line.name; });
    if (taken.indexOf(base) < 0) return base;
    for (let n = 2; ; n += 1) if (taken.indexOf(base + n) < 0) return base + n;
  }

  function addLine(at) {
    const role = document.getElementById("kb-next-role").value;
    kit.lines.push({
      name: freeName(role),
      role: role,
      at: at,
      analyte: role === "test" ? kit.test_item.name : "",
      present_means: "reactive",
    });
    renderLines();
    update(null);
  }

  function lineField(row, index, key, labelText, control) {
    const id = "kb-line-" + index + "-" + key;
    const field = document.createElement("div");
    field.className = "field";
    field.setAttribute("data-path", "lines." + index + "." + key);
    field.setAttribute("data-for", key);
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = labelText;
    control.id = id;
    control.setAttribute("data-line-key", key);
    field.append(label, control);
    row.appendChild(field);
    return control;
  }

  function select(options) {
    const element = document.createElement("select");
    options.forEach(function (pair) {
      const option = document.createElement("option");
      option.value = pair[0];
      option.textContent = pair[1];
      element.appendChild(option);
    });
    return element;
  }

  function textInput(attrs) {
    const input = document.createElement("input");
    Object.keys(attrs).forEach(function (name) { input.setAttribute(name, attrs[name]); });
    return input;
  }

  function showLineFields(row, line) {
    row.querySelectorAll("[data-for='analyte'], [data-for='present_means']").forEach(function (field) {
      field.hidden = line.role !== "test";
    });
  }

  function renderLines() {
    linesList.textContent = "";
    kit.lines.forEach(function (line, index) {
      const item = document.createElement("li");
      item.setAttribute("data-line", String(index));
      item.setAttribute("data-path", "lines." + index);
      item.className = "kb-line";
      const group = document.createElement("fieldset");
      const legend = document.createElement("legend");
      legend.textContent = "Line " + (index + 1);
      group.appendChild(legend);
      const fields = document.createElement("div");
      fields.className = "kb-line-fields";
      lineField(fields, index, "name", "Name", textInput({ type: "text", maxlength: "16", spellcheck: "false" }));
      lineField(fields, index, "role", "Role", select([["control", "control"], ["test", "test"]]));
      lineField(fields, index, "at", "Position (0 to 1)", textInput({ type: "number", step: "any", min: "0", max: "1", "data-number": "", "aria-describedby": "kb-at-hint" }));
      lineField(fields, index, "analyte", "Analyte it detects", textInput({ type: "text" }));
      lineField(fields, index, "present_means", "A visible line means", select([["reactive", "reactive (positive)"], ["non-reactive", "non-reactive (competitive assay)"]]));
      group.appendChild(fields);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button button--quiet";
      remove.textContent = "Remove line " + (index + 1);
      remove.addEventListener("click", function () {
        kit.lines.splice(index, 1);
        renderLines();
        update(null);
        document.getElementById("kb-add-line").focus();
      });
      group.appendChild(remove);
      item.appendChild(group);
      linesList.appendChild(item);
      showLineFields(item, line);
    });
  }

  document.getElementById("kb-add-line").addEventListener("click", function () {
    addLine(0.5);
    const rows = linesList.querySelectorAll("[data-line]");
    rows[rows.length - 1].querySelector("input").focus();
  });

  // A kit.json the manufacturer has: into the fields, to check and correct it here --

  function pick(value, fallback) {
    return value === undefined ? fallback : value;
  }

  function load(doc) {
    const t = doc.template || {};
    const box = t.code_box || {};
    const w = t.window || {};
    const item = doc.test_item || {};
    const read = doc.read_time_minutes || {};
    kit.spec = pick(doc.spec, kit.spec);
    // Left out stays left out (the check then says "missing", as for the file itself).
    kit.product_code = doc.product_code;
    kit.name = doc.name;
    kit.test_item = { name: pick(item.name, ""), loinc: pick(item.loinc, "") };
    kit.format = pick(doc.format, "cassette");
    kit.template = {
      image: kit.template.image || pick(t.image, ""),
      px_per_mm: pick(t.px_per_mm, null),
      code_box: { x: pick(box.x, null), y: pick(box.y, null), size: pick(box.size, null) },
      window: { x: pick(w.x, null), y: pick(w.y, null), w: pick(w.w, null), h: pick(w.h, null) },
      flow: pick(t.flow, "down"),
    };
    kit.lines = (Array.isArray(doc.lines) ? doc.lines : []).map(function (line) {
      line = line || {};
      return {
        name: pick(line.name, ""),
        role: pick(line.role, "test"),
        at: pick(line.at, null),
        analyte: pick(line.analyte, ""),
        present_means: pick(line.present_means, "reactive"),
        extra: unknown(line, LINE_FIELDS),
      };
    });
    extra = {};
    Object.keys(FIELDS).forEach(function (path) { extra[path] = unknown(at(doc, path), FIELDS[path]); });
    kit.line_width_mm = pick(doc.line_width_mm, null);
    kit.line_color = pick(doc.line_color, "");
    kit.read_time_minutes = { min: pick(read.min, null), max: pick(read.max, null) };
    renderLines();
    update(null);
  }

  document.getElementById("kb-load").addEventListener("change", function (event) {
    const file = event.target.files && event.target.files[0];
    if (!file) return;
    file.text().then(function (text) {
      let doc;
      try {
        doc = JSON.parse(text);
      } catch (error) {
        say(file.name + " is not JSON: the fields are unchanged.");
        return;
      }
      if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
        say(file.name + " is not a kit description: the fields are unchanged.");
        return;
      }
      load(doc);
      say("The fields now hold " + file.name + ". Check and preview to see what is wrong, if anything.");
    });
  });

  // The template image and the drawing ---------------------------------------

  document.getElementById("kb-template").addEventListener("change", function (event) {
    const file = event.target.files && event.target.files[0];
    if (!file) return;
    kit.template.image = file.name;
    const reader = new FileReader();
    reader.onload = function () {
      image.onload = function () {
        overlay.setAttribute("viewBox", "0 0 " + image.naturalWidth + " " + image.naturalHeight);
        image.hidden = false;
        overlay.removeAttribute("hidden"); // an SVG element has no .hidden
        document.getElementById("kb-empty").hidden = true;
        fit();
        update(null);
      };
      image.src = String(reader.result);
    };
    reader.readAsDataURL(file);
  });

  // As large as fits the column and most of the screen's height, enlarged when small.
  function fit() {
    if (!image.naturalWidth) return;
    const stage = document.getElementById("kb-stage");
    const width = stage.parentElement.clientWidth - 2;
    const height = Math.min(window.innerHeight * 0.85, 720);
    const scale = Math.min(width / image.naturalWidth, height / image.naturalHeight);
    image.style.width = image.naturalWidth * scale + "px";
    image.style.height = image.naturalHeight * scale + "px";
  }
  window.addEventListener("resize", fit);

  // The point of the template under the pointer, in template pixels.
  function point(event) {
    const box = image.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * image.naturalWidth / box.width,
      y: (event.clientY - box.top) * image.naturalHeight / box.height,
    };
  }

  function mode() {
    return form.querySelector("input[name='kb_mode']:checked").value;
  }

  // Where along the window (0 sample end, 1 far end) a point lies, by the flow.
  function along(p) {
    const w = kit.template.window;
    switch (kit.template.flow) {
      case "down": return (p.y - w.y) / w.h;
      case "up": return (w.y + w.h - p.y) / w.h;
      case "right": return (p.x - w.x) / w.w;
      default: return (w.x + w.w - p.x) / w.w;
    }
  }

  let dragFrom = null;
  overlay.addEventListener("pointerdown", function (event) {
    if (!image.naturalWidth) return;
    event.preventDefault();
    if (mode() === "line") {
      const w = kit.template.window;
      if (!(w.w > 0 && w.h > 0)) {
        say("Drag the result window first: a line's place is measured in it.");
        return;
      }
      addLine(round(along(point(event)), 4));
      const line = kit.lines[kit.lines.length - 1];
      say("Line " + line.name + " (" + line.role + ") placed at " + line.at + " of the window.");
      return;
    }
    dragFrom = point(event);
    overlay.setPointerCapture(event.pointerId);
  });
  overlay.addEventListener("pointermove", function (event) {
    if (dragFrom) dragTo(point(event));
  });
  overlay.addEventListener("pointerup", function (event) {
    if (!dragFrom) return;
    dragTo(point(event));
    dragFrom = null;
    const w = kit.template.window;
    const box = kit.template.code_box;
    say(mode() === "window"
      ? "Result window: x " + w.x + ", y " + w.y + ", " + w.w + " × " + w.h + " pixels."
      : "Code box: x " + box.x + ", y " + box.y + ", size " + box.size + " pixels.");
  });

  function dragTo(p) {
    const x0 = Math.round(Math.min(dragFrom.x, p.x));
    const y0 = Math.round(Math.min(dragFrom.y, p.y));
    const x1 = Math.round(Math.max(dragFrom.x, p.x));
    const y1 = Math.round(Math.max(dragFrom.y, p.y));
    if (mode() === "window") {
      kit.template.window = { x: x0, y: y0, w: Math.max(1, x1 - x0), h: Math.max(1, y1 - y0) };
    } else {
      // The code box is square: its side is the longer of the two drags.
      const size = Math.max(1, x1 - x0, y1 - y0);
      kit.template.code_box = {
        x: p.x < dragFrom.x ? Math.round(dragFrom.x) - size : x0,
        y: p.y < dragFrom.y ? Math.round(dragFrom.y) - size : y0,
        size: size,
      };
    }
    update(null);
  }

  function shape(name, attrs, parent) {
    const element = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) { element.setAttribute(key, String(attrs[key])); });
    parent.appendChild(element);
    return element;
  }

  function draw() {
    overlay.textContent = "";
    if (!image.naturalWidth) return;
    const stroke = Math.max(1, image.naturalWidth / 240);
    const w = kit.template.window;
    const box = kit.template.code_box;
    if (box.size > 0) {
      shape("rect", { x: box.x, y: box.y, width: box.size, height: box.size, class: "kb-code-box", "stroke-width": stroke }, overlay);
    }
    if (!(w.w > 0 && w.h > 0)) return;
    shape("rect", { x: w.x, y: w.y, width: w.w, height: w.h, class: "kb-window", "stroke-width": stroke }, overlay);
    const vertical = kit.template.flow === "up" || kit.template.flow === "down";
    kit.lines.forEach(function (line) {
      if (typeof line.at !== "number") return;
      let a;
      let b;
      if (vertical) {
        const y = kit.template.flow === "down" ? w.y + line.at * w.h : w.y + w.h - line.at * w.h;
        a = [w.x, y];
        b = [w.x + w.w, y];
      } else {
        const x = kit.template.flow === "right" ? w.x + line.at * w.w : w.x + w.w - line.at * w.w;
        a = [x, w.y];
        b = [x, w.y + w.h];
      }
      const kind = line.role === "control" ? "kb-control" : "kb-test";
      shape("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: kind, "stroke-width": Math.max(stroke, kit.line_width_mm * kit.template.px_per_mm || stroke) }, overlay);
      const label = shape("text", { x: vertical ? w.x + w.w + 3 * stroke : a[0], y: vertical ? a[1] : w.y - 3 * stroke, class: "kb-label " + kind, "font-size": 16 * stroke }, overlay);
      label.textContent = line.name;
    });
  }

  // Mistakes the server found, beside their fields ------------------------------

  function clearMistakes() {
    form.querySelectorAll(".field-error[data-kit-error]").forEach(function (p) { p.remove(); });
    form.querySelectorAll("[aria-invalid='true']").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      const described = (el.getAttribute("aria-describedby") || "").split(" ").filter(function (id) { return id.indexOf("kb-error-") !== 0; });
      if (described.length) el.setAttribute("aria-describedby", described.join(" "));
      else el.removeAttribute("aria-describedby");
    });
  }

  // The field for a path, or the nearest enclosing one ("lines.1.at", "lines.1", "lines").
  function fieldFor(path) {
    const parts = path.split(".");
    while (parts.length) {
      const found = form.querySelector("[data-path='" + parts.join(".") + "']");
      if (found) return found;
      parts.pop();
    }
    return null;
  }

  // Each mistake in the summary links to its field.
  function linkSummary(item, control) {
    if (!control || !control.id) return;
    const link = document.createElement("a");
    link.href = "#" + control.id;
    link.textContent = item.textContent;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      control.focus();
    });
    item.textContent = "";
    item.appendChild(link);
  }

  let errorCount = 0;
  function showMistakes(root) {
    const items = root.querySelectorAll("[data-field]");
    if (!items.length && !root.querySelector(".alert--error")) clearMistakes();
    if (!items.length) return;
    clearMistakes();
    items.forEach(function (item) {
      const field = fieldFor(item.getAttribute("data-field"));
      if (!field) return;
      errorCount += 1;
      const message = document.createElement("p");
      message.className = "field-error";
      message.id = "kb-error-" + errorCount;
      message.setAttribute("data-kit-error", "");
      message.textContent = item.textContent;
      const control = field.matches("input, select, textarea") ? field : field.querySelector("input, select, textarea");
      if (field.tagName === "FIELDSET" || field.tagName === "LI") {
        const legend = field.querySelector("legend");
        (legend || field).insertAdjacentElement("afterend", message);
      } else {
        field.appendChild(message);
      }
      linkSummary(item, control);
      if (control && field.tagName !== "FIELDSET" && field.tagName !== "LI") {
        control.setAttribute("aria-invalid", "true");
        const described = control.getAttribute("aria-describedby");
        control.setAttribute("aria-describedby", (described ? described + " " : "") + message.id);
      }
    });
  }

  // Both forms answer into the same preview: only the builder's answer is about its fields.
  let fromBuilder = false;
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    fromBuilder = form.contains(event.detail.elt);
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    const fresh = document.getElementById("kit-preview");
    if (!fresh) return;
    if (fromBuilder) showMistakes(fresh);
    else clearMistakes();
  });

  renderLines();
  update(null);
})();
