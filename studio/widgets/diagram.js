// The studio's interactive diagram (an anywidget ES module; shipped with the package, no network).
// Graphviz draws the layout; this attaches selection, hover, wheel zoom, drag pan, fit,
// presentation and full screen to its SVG. Elements are found by their <title>: a node's id, an
// edge's "source->target".

const MIN_SCALE = 0.05;
const MAX_SCALE = 8;

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function titleOf(g) {
  const title = g.querySelector(":scope > title");
  return title ? title.textContent : "";
}

function render({ model, el }) {
  el.classList.add("wds-dg");
  el.tabIndex = -1; // focusable, so keyboard shortcuts reach the studio after a click on the diagram

  // ---------------------------------------------------------------- the bar
  const bar = make("div", "wds-dg-bar");
  const button = (label, tip, action) => {
    const b = make("button", "wds-dg-btn", label);
    b.type = "button";
    b.title = tip;
    b.addEventListener("click", action);
    return b;
  };
  const fitBtn = button("Fit", "Show the whole diagram in the box", () => setMode("fit"));
  const presentBtn = button("Presentation", "Text large enough for a projector; drag to move around", () =>
    setMode("presentation"),
  );
  const outBtn = button("−", "Zoom out (or turn the mouse wheel)", () => zoomAt(scale / 1.25));
  const inBtn = button("+", "Zoom in (or turn the mouse wheel)", () => zoomAt(scale * 1.25));
  const fullBtn = button("Full screen", "The diagram on the whole screen (Esc leaves)", () => toggleFull());
  fitBtn.dataset.mode = "fit";
  presentBtn.dataset.mode = "presentation";
  const pick = (label, trait, options) => {
    const wrap = make("label", "wds-dg-pick");
    wrap.append(make("span", "", label));
    const select = make("select");
    for (const [value, text] of options) {
      const option = make("option", "", text);
      option.value = value;
      select.append(option);
    }
    select.value = model.get(trait);
    select.addEventListener("change", () => {
      model.set(trait, select.value);
      model.save_changes();
    });
    model.on(`change:${trait}`, () => {
      select.value = model.get(trait);
    });
    wrap.append(select);
    return wrap;
  };
  const lanes = pick("Lanes", "lanes", [
    ["actor", "by actor"],
    ["kind", "by kind"],
    ["none", "off"],
  ]);
  const direction = pick("Direction", "direction", [
    ["TB", "top to bottom"],
    ["LR", "left to right"],
  ]);
  const zoomLabel = make("span", "wds-dg-zoom");
  const hint = make("div", "wds-dg-hint");
  bar.append(fitBtn, presentBtn, outBtn, inBtn, zoomLabel, fullBtn, lanes, direction);

  const viewport = make("div", "wds-dg-viewport wds-diagram");
  const stage = make("div", "wds-dg-stage");
  viewport.append(stage);
  el.append(bar, hint, viewport);

  // ---------------------------------------------------------------- drawing and zoom
  let svg = null;
  let base = null; // the SVG's own size (viewBox units)
  let fontMin = 14; // the smallest node text, in SVG units
  let scale = 1;
  let mode = model.get("zoom"); // fit | presentation | a factor | custom (wheel, + and -)

  function layout() {
    viewport.style.height = model.get("height");
    lanes.style.display = direction.style.display = model.get("view_controls") ? "" : "none";
    hint.textContent = model.get("hint");
    hint.style.display = model.get("hint") ? "" : "none";
    el.classList.toggle("wds-dg-selectable", model.get("selectable"));
  }

  function fitScale() {
    if (!base) return 1;
    const width = viewport.clientWidth - 16;
    const height = viewport.clientHeight - 16;
    if (width <= 0 || height <= 0) return scale;
    return Math.min(width / base.w, height / base.h);
  }

  function modeScale() {
    if (mode === "fit") return fitScale();
    if (mode === "presentation") return Math.max(fitScale(), model.get("presentation_px") / fontMin);
    const factor = parseFloat(mode);
    return Number.isFinite(factor) ? factor : scale;
  }

  function setScale(next, ax, ay) {
    if (!svg || !base) return;
    const anchorX = ax === undefined ? viewport.clientWidth / 2 : ax;
    const anchorY = ay === undefined ? viewport.clientHeight / 2 : ay;
    const x = (viewport.scrollLeft + anchorX) / scale;
    const y = (viewport.scrollTop + anchorY) / scale;
    scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, next));
    svg.setAttribute("width", `${(base.w * scale).toFixed(1)}px`);
    svg.setAttribute("height", `${(base.h * scale).toFixed(1)}px`);
    viewport.scrollLeft = x * scale - anchorX;
    viewport.scrollTop = y * scale - anchorY;
    zoomLabel.textContent = `${Math.round(scale * 100)}%`;
    for (const b of [fitBtn, presentBtn]) b.classList.toggle("wds-on", b.dataset.mode === mode);
    el.dataset.scale = scale.toFixed(4);
  }

  function setMode(next) {
    mode = next;
    setScale(modeScale());
    if (mode === "fit") viewport.scrollTo(0, 0);
    if (model.get("zoom") !== next) {
      model.set("zoom", next);
      model.save_changes();
    }
    reveal();
  }

  function zoomAt(next, ax, ay) {
    mode = "custom";
    setScale(next, ax, ay);
  }

  function draw() {
    const keepScroll = [viewport.scrollLeft, viewport.scrollTop];
    stage.innerHTML = model.get("svg");
    svg = stage.querySelector("svg");
    base = null;
    if (svg) {
      const box = svg.viewBox && svg.viewBox.baseVal;
      const w = box && box.width ? box.width : parseFloat(svg.getAttribute("width")) || 100;
      const h = box && box.height ? box.height : parseFloat(svg.getAttribute("height")) || 100;
      base = { w, h };
      const sizes = [...svg.querySelectorAll("g.node text")]
        .map((text) => parseFloat(text.getAttribute("font-size")))
        .filter((size) => size > 0);
      fontMin = sizes.length ? Math.min(...sizes) : 14;
      for (const path of svg.querySelectorAll("g.edge > g > a > path, g.edge > path")) {
        const hit = path.cloneNode(false); // a wide, invisible twin: thin arrows are easy to click
        hit.setAttribute("class", "wds-dg-hit");
        hit.removeAttribute("stroke-dasharray");
        path.parentNode.insertBefore(hit, path);
      }
      setScale(mode === "custom" ? scale : modeScale());
      viewport.scrollLeft = keepScroll[0];
      viewport.scrollTop = keepScroll[1];
    }
    decorate();
  }

  function find(id) {
    if (!svg) return null;
    for (const g of svg.querySelectorAll("g.node, g.edge")) if (titleOf(g) === id) return g;
    return null;
  }

  function decorate() {
    if (!svg) return;
    const selected = new Set(model.get("selected"));
    const path = new Set(model.get("highlight"));
    const current = model.get("current");
    for (const g of svg.querySelectorAll("g.node, g.edge")) {
      const id = titleOf(g);
      const isNode = g.classList.contains("node");
      let onPath = path.has(id);
      if (!isNode) {
        const [source, target] = id.split("->");
        onPath = path.has(source) && path.has(target);
      }
      g.classList.toggle("wds-selected", selected.has(id));
      g.classList.toggle("wds-highlight", onPath);
      g.classList.toggle("wds-current", isNode && id === current);
    }
  }

  function reveal() {
    const ids = model.get("selected");
    const id = model.get("current") || ids[ids.length - 1];
    const g = id ? find(id) : null;
    if (!g) return;
    const r = g.getBoundingClientRect();
    const v = viewport.getBoundingClientRect();
    if (!v.width || !v.height) return;
    if ((r.width > v.width || r.height > v.height) && mode !== "fit") {
      zoomAt(scale * Math.min(v.width / (r.width + 40), v.height / (r.height + 40)));
    }
    const inside = r.left >= v.left && r.right <= v.right && r.top >= v.top && r.bottom <= v.bottom;
    if (!inside) {
      viewport.scrollLeft += r.left + r.width / 2 - (v.left + v.width / 2);
      viewport.scrollTop += r.top + r.height / 2 - (v.top + v.height / 2);
    }
  }

  // ---------------------------------------------------------------- mouse: select, pan, zoom
  let drag = null;
  let dragged = false;
  const onDown = (e) => {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, left: viewport.scrollLeft, top: viewport.scrollTop };
    dragged = false;
  };
  const onMove = (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (!dragged && Math.hypot(dx, dy) < 5) return;
    dragged = true;
    viewport.classList.add("wds-dg-panning");
    viewport.scrollLeft = drag.left - dx;
    viewport.scrollTop = drag.top - dy;
  };
  const onUp = () => {
    drag = null;
    viewport.classList.remove("wds-dg-panning");
  };
  viewport.addEventListener("pointerdown", onDown);
  window.addEventListener("pointermove", onMove);
  window.addEventListener("pointerup", onUp);
  viewport.addEventListener(
    "wheel",
    (e) => {
      if (!svg) return;
      e.preventDefault();
      const v = viewport.getBoundingClientRect();
      zoomAt(scale * Math.exp(-e.deltaY * 0.0015), e.clientX - v.left, e.clientY - v.top);
    },
    { passive: false },
  );
  stage.addEventListener("click", (e) => {
    if (dragged) {
      dragged = false;
      return;
    }
    el.focus({ preventScroll: true });
    if (!model.get("selectable")) return;
    const g = e.target.closest("g.node, g.edge");
    if (!g) return;
    const id = titleOf(g);
    let selected = model.get("selected").slice();
    if (e.shiftKey || e.ctrlKey || e.metaKey) {
      selected = selected.includes(id) ? selected.filter((x) => x !== id) : [...selected, id];
    } else {
      selected = [id];
    }
    model.set("selected", selected);
    model.save_changes();
    decorate();
  });

  // ---------------------------------------------------------------- full screen
  function toggleFull() {
    if (document.fullscreenElement === el) document.exitFullscreen();
    else if (el.requestFullscreen) el.requestFullscreen();
  }
  const onFull = () => {
    const full = document.fullscreenElement === el;
    el.classList.toggle("wds-dg-full", full);
    fullBtn.textContent = full ? "Leave full screen" : "Full screen";
  };
  document.addEventListener("fullscreenchange", onFull);

  // ---------------------------------------------------------------- keyboard: undo, redo, Esc, Delete
  let root = null;
  const onKey = (e) => {
    const tag = (e.target && e.target.tagName) || "";
    const typing = tag === "INPUT" || tag === "TEXTAREA" || (e.target && e.target.isContentEditable);
    const key = e.key.toLowerCase();
    const ctrl = e.ctrlKey || e.metaKey;
    let action = null;
    if (ctrl && key === "z" && !typing) action = e.shiftKey ? "redo" : "undo";
    else if (ctrl && key === "y" && !typing) action = "redo";
    else if (key === "escape" && !typing && document.fullscreenElement !== el) action = "escape";
    else if ((key === "delete" || key === "backspace") && !typing && root && root.contains(e.target) &&
             el.contains(e.target)) action = "delete";
    if (!action) return;
    e.preventDefault();
    e.stopPropagation();
    model.send({ action });
  };
  let attachTries = 0;
  const attach = () => {
    if (!model.get("shortcuts") || root) return;
    root = el.closest(".wds-studio");
    if (root) root.addEventListener("keydown", onKey);
    else if (attachTries++ < 200) setTimeout(attach, 100);
    else el.addEventListener("keydown", onKey);
  };
  attach();

  // ---------------------------------------------------------------- follow the model
  const resize = new ResizeObserver(() => {
    if (mode === "fit" || mode === "presentation") setScale(modeScale());
  });
  resize.observe(viewport);
  model.on("change:svg", draw);
  model.on("change:selected", () => {
    decorate();
    reveal();
  });
  model.on("change:highlight", decorate);
  model.on("change:current", () => {
    decorate();
    reveal();
  });
  model.on("change:zoom", () => {
    if (model.get("zoom") !== mode) setMode(model.get("zoom"));
  });
  for (const trait of ["height", "view_controls", "hint", "selectable"]) model.on(`change:${trait}`, layout);
  model.on("change:shortcuts", attach);
  layout();
  draw();
  requestAnimationFrame(() => {
    setScale(modeScale());
    reveal();
  });

  return () => {
    window.removeEventListener("pointermove", onMove);
    window.removeEventListener("pointerup", onUp);
    document.removeEventListener("fullscreenchange", onFull);
    if (root) root.removeEventListener("keydown", onKey);
    resize.disconnect();
  };
}

export default { render };
