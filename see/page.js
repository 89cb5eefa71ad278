// tapegrad's step-through page. The data (the trace of one or more graphs) is the JSON in
// <script id="data">; this script draws nothing itself: it highlights the Graphviz SVG, fills the
// panels, and walks the steps with the arrow keys or the buttons.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("data").textContent);
  const $ = (id) => document.getElementById(id);
  let tab = null;   // the current tab's data
  let step = 0;     // the current step of a trace tab
  let svgNodes = {}, svgEdges = {};

  // ---- values -----------------------------------------------------------------------------
  // Every digit: the shortest text that reads back as the same double ("NaN", "Infinity" arrive as text).
  function num(v) { return String(v); }
  // 4 significant digits, as the terminal prints them (C's %.4g): 1.204, 0.03735, 1.665e-16, 1e-05.
  function g4(v) {
    if (typeof v !== "number" || !isFinite(v)) return String(v);
    if (v === 0) return Object.is(v, -0) ? "-0" : "0";
    const [mant, exp] = v.toExponential(3).split("e");
    const x = parseInt(exp, 10);
    const trim = (t) => (t.indexOf(".") < 0 ? t : t.replace(/0+$/, "").replace(/\.$/, ""));
    if (x < -4 || x >= 4) {
      return trim(mant) + "e" + (x < 0 ? "-" : "+") + String(Math.abs(x)).padStart(2, "0");
    }
    return trim(v.toFixed(3 - x));
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function shapeStr(shape) { return "[" + shape.join(", ") + "]"; }
  // An array as a table: one row per row of its last axis; cells carry their value in data-v.
  function arrTable(arr, name) {
    if (!arr) return el("div", { class: "note" }, "(none)");
    if (!arr.values) {
      const s = arr.summary;
      return el("div", { class: "note", "data-name": name || "" },
        shapeStr(arr.shape) + " (too large to show in full): min " + g4(s.min) + ", max " + g4(s.max) +
        ", mean " + g4(s.mean) + ", norm " + g4(s.norm));
    }
    const t = el("table", { class: "arr", "data-name": name || "" });
    const shape = arr.shape, cols = shape.length ? shape[shape.length - 1] : 1;
    const rows = cols ? arr.values.length / cols : 0;
    for (let r = 0; r < rows; r++) {
      const tr = el("tr");
      for (let c = 0; c < cols; c++) {
        const v = arr.values[r * cols + c];
        const td = el("td", { "data-v": num(v), title: "click for every digit" }, g4(v));
        td.addEventListener("click", () => {  // every digit, and back
          const full = td.classList.toggle("full");
          td.textContent = full ? num(v) : g4(v);
        });
        tr.appendChild(td);
      }
      t.appendChild(tr);
    }
    return t;
  }

  // ---- the graph --------------------------------------------------------------------------
  function mountGraph() {
    const g = $("graph");
    g.innerHTML = tab.svg || "<p class='note'>" + (tab.note || "no drawing: Graphviz was not found") + "</p>";
    g.appendChild(el("div", { class: "hint" }, "drag to pan, wheel to zoom, click a box for its values, a number for every digit"));
    svgNodes = {}; svgEdges = {};
    g.querySelectorAll("g.node").forEach((n) => {
      const id = n.querySelector("title").textContent;
      svgNodes[id] = n;
      n.addEventListener("click", (ev) => { ev.stopPropagation(); showTensor(parseInt(id.slice(1), 10)); });
    });
    g.querySelectorAll("g.edge").forEach((e) => { svgEdges[e.querySelector("title").textContent] = e; });
    (tab.marked || []).forEach((i) => svgNodes["t" + i] && svgNodes["t" + i].classList.add("marked"));
    const svg = g.querySelector("svg");
    if (svg) {  // fit the pane's width (a tall graph scrolls, and follows the current step); zoom with the wheel
      const vb = svg.viewBox.baseVal, w = g.clientWidth - 4;
      const k = Math.min(1.3, w / vb.width);
      svg.setAttribute("width", vb.width * k);
      svg.setAttribute("height", vb.height * k);
    }
    panZoom(svg);
  }
  // Scrolls items into view inside their own scrolling pane only (not the page): all of them when
  // they fit together, else the first.
  function follow(pane, items) {
    items = items.filter((x) => x);
    if (!pane || !items.length) return;
    const p = pane.getBoundingClientRect(), boxes = items.map((x) => x.getBoundingClientRect());
    let top = Math.min(...boxes.map((r) => r.top)), bottom = Math.max(...boxes.map((r) => r.bottom));
    if (bottom - top > p.height - 8) {
      top = boxes[0].top;
      bottom = boxes[0].bottom;
    }
    if (top < p.top) pane.scrollTop -= p.top - top + 4;
    else if (bottom > p.bottom) pane.scrollTop += Math.min(bottom - p.bottom + 4, top - p.top - 4);
  }
  // The backward pass's flow along an edge: the edge drawn again with its arrow at the input's end (the
  // gradient goes from the result back to the input), labelled with what it carries.
  const SVGNS = "http://www.w3.org/2000/svg";
  function backArrow(edge, label, to) {
    const path = edge.querySelector("path");
    if (!path) return;
    const g = document.createElementNS(SVGNS, "g");
    g.setAttribute("class", "back");
    g.setAttribute("data-to", to);
    const line = document.createElementNS(SVGNS, "path");
    line.setAttribute("d", path.getAttribute("d"));
    g.appendChild(line);
    const len = path.getTotalLength(), p0 = path.getPointAtLength(0), p1 = path.getPointAtLength(Math.min(9, len));
    const dx = p0.x - p1.x, dy = p0.y - p1.y, n = Math.hypot(dx, dy) || 1, ux = dx / n, uy = dy / n;
    const tip = [p0.x, p0.y], base = [p0.x - 9 * ux, p0.y - 9 * uy];
    const head = document.createElementNS(SVGNS, "polygon");
    head.setAttribute("points", [tip, [base[0] - 4 * uy, base[1] + 4 * ux], [base[0] + 4 * uy, base[1] - 4 * ux]]
      .map((q) => q[0] + "," + q[1]).join(" "));
    g.appendChild(head);
    const mid = path.getPointAtLength(len / 2), t = document.createElementNS(SVGNS, "text");
    t.setAttribute("x", mid.x + 6);
    t.setAttribute("y", mid.y + 4);
    t.textContent = label;
    g.appendChild(t);
    edge.parentNode.appendChild(g);
    edge.classList.add("flow-back");
  }
  function panZoom(svg) {
    if (!svg) return;
    let vb = svg.viewBox.baseVal, drag = null;
    svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const k = ev.deltaY < 0 ? 0.85 : 1 / 0.85, r = svg.getBoundingClientRect();
      const x = vb.x + (ev.clientX - r.left) / r.width * vb.width, y = vb.y + (ev.clientY - r.top) / r.height * vb.height;
      vb.x = x - (x - vb.x) * k; vb.y = y - (y - vb.y) * k; vb.width *= k; vb.height *= k;
    }, { passive: false });
    svg.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, y: ev.clientY }; });
    window.addEventListener("mouseup", () => { drag = null; });
    svg.addEventListener("mousemove", (ev) => {
      if (!drag) return;
      const r = svg.getBoundingClientRect();
      vb.x -= (ev.clientX - drag.x) / r.width * vb.width; vb.y -= (ev.clientY - drag.y) / r.height * vb.height;
      drag = { x: ev.clientX, y: ev.clientY };
    });
  }
  function clearMarks() {
    Object.values(svgNodes).forEach((n) => n.classList.remove("current", "receives"));
    Object.values(svgEdges).forEach((e) => e.classList.remove("flow", "flow-back"));
    document.querySelectorAll("#graph g.back").forEach((b) => b.remove());
  }

  // ---- the panels -------------------------------------------------------------------------
  function showTensor(i) {
    const n = tab.nodes[i], box = $("tensor");
    Object.values(svgNodes).forEach((s) => s.classList.remove("selected"));
    if (svgNodes["t" + i]) svgNodes["t" + i].classList.add("selected");
    box.innerHTML = "";
    box.classList.remove("view-hidden");
    box.setAttribute("data-node", i);
    const close = el("button", { class: "close", title: "close" }, "\u00d7");
    close.addEventListener("click", () => box.classList.add("view-hidden"));
    box.appendChild(close);
    box.appendChild(el("h2", {}, n.label + "  " + shapeStr(n.value.shape) + " " + tab.dtype));
    box.appendChild(el("div", { class: "expr" }, n.label + " = " + n.expression));
    box.appendChild(el("div", {}, "value"));
    box.appendChild(arrTable(n.value, "value"));
    box.appendChild(el("div", {}, "gradient dL/d" + n.label));
    box.appendChild(n.grad ? arrTable(n.grad, "grad") : el("div", { class: "note" }, "none: no gradient flows to it"));
  }
  function render() {
    const steps = tab.steps, s = steps[step], n = tab.nodes[s.node], panel = $("panel");
    clearMarks();
    $("counter").textContent = "step " + (step + 1) + " of " + steps.length + ", " + s.kind;
    $("jump").value = step + 1;
    panel.innerHTML = "";
    panel.setAttribute("data-step", step);
    panel.setAttribute("data-node", s.node);
    panel.setAttribute("data-kind", s.kind);
    if (svgNodes["t" + s.node]) svgNodes["t" + s.node].classList.add("current");
    if (s.kind === "forward") {
      panel.appendChild(el("h2", {}, "Forward: " + n.label));
      panel.appendChild(el("div", { class: "expr" }, n.label + " = " + n.expression));
      panel.appendChild(arrTable(n.value, "value"));
      (n.inputs || []).forEach((j) => svgEdges["t" + j + "->t" + s.node] && svgEdges["t" + j + "->t" + s.node].classList.add("flow"));
    } else {
      panel.appendChild(el("h2", {}, "Backward: the node that made " + n.label));
      panel.appendChild(el("div", { class: "expr" }, n.label + " = " + n.expression));
      panel.appendChild(el("div", { class: "rule" }, "rule: " + s.rule));
      panel.appendChild(el("div", {}, "upstream dL/d" + n.label));
      panel.appendChild(arrTable(s.upstream, "upstream"));
      s.sent.forEach((c, k) => {
        const to = tab.nodes[c.to], d = el("div", { class: "send", "data-to": c.to });
        d.appendChild(el("div", {}, "sends dL/d" + to.label + (c.note ? "  (" + c.note + ")" : "")));
        if (c.worked) d.appendChild(el("div", { class: "worked", "data-element": c.element }, "one element: " + c.worked));
        d.appendChild(arrTable(c.grad, "sent" + k));
        if (c.of > 1) {
          const a = el("div", { class: "acc" }, "+= " + to.label + " receives " + c.of + " contributions; this is number " +
            c.arrival + ", and the running sum is now:");
          a.appendChild(arrTable(c.running, "running" + k));
          d.appendChild(a);
        }
        panel.appendChild(d);
        if (svgNodes["t" + c.to]) svgNodes["t" + c.to].classList.add("receives");
        const e = svgEdges["t" + c.to + "->t" + s.node];
        if (e) {
          const vals = c.grad.values, at = vals && vals.length > 1 ? 1 : 0;
          backArrow(e, "dL/d" + to.label + (vals ? (c.element || "") + " = " + g4(vals[at]) : " " + shapeStr(c.grad.shape)), c.to);
        }
      });
    }
    const current = [];
    document.querySelectorAll("#book li").forEach((li) => {
      const on = parseInt(li.getAttribute("data-step"), 10) === step;
      li.classList.toggle("current", on);
      if (on) current.push(li);
    });
    follow($("book"), current);
    // the current node, and in the backward pass the inputs it sends to
    follow($("graph"), [svgNodes["t" + s.node]].concat(s.kind === "backward" ? s.sent.map((c) => svgNodes["t" + c.to]) : []));
  }
  function go(k) {
    if (!tab || !tab.steps || !tab.steps.length) return;
    step = Math.max(0, Math.min(tab.steps.length - 1, k));
    render();
  }
  function mountBook() {
    const book = $("book");
    book.innerHTML = "";
    if (tab.reading && ((tab.textbook && tab.textbook.length) || (tab.stages && tab.stages.length))) {
      book.appendChild(el("p", { class: "reading", id: "reading" }, tab.reading));
    }
    if (tab.textbook && tab.textbook.length) {
      book.appendChild(el("h2", {}, "The textbook's reading (click a line for its step)"));
      const ol = el("ol");
      tab.textbook.forEach((l) => {
        const li = el("li", { "data-step": l.step });
        li.appendChild(el("span", { class: "q" }, l.quantity));
        li.appendChild(document.createTextNode(" = " + l.formula));
        li.title = "from " + l.source;
        li.addEventListener("click", () => { go(l.step); li.classList.add("current"); });
        ol.appendChild(li);
      });
      book.appendChild(ol);
    }
    if (tab.stages && tab.stages.length) {
      book.appendChild(el("h2", {}, "Inside the fused node: its closed form, stage by stage (g = dL/dy)"));
      tab.stages.forEach((st, k) => {
        const d = el("div", { class: "send" });
        d.appendChild(el("div", { class: "expr" }, st.stage + ": " + st.formula));
        d.appendChild(arrTable(st.value, "stage" + k));
        if (st.equals) d.appendChild(el("div", { class: "note" }, "equals the composite graph's " + st.equals +
          " (max abs diff " + num(st.max_abs_diff) + ")"));
        book.appendChild(d);
      });
    }
    book.classList.toggle("view-hidden", !book.childNodes.length);
  }
  function selectTab(k) {
    tab = data.tabs[k];
    document.querySelectorAll(".tabs button").forEach((b, i) => b.classList.toggle("active", i === k));
    const isTrace = tab.kind === "trace";
    ["graph", "side"].forEach((id) => $(id).classList.toggle("view-hidden", !isTrace));
    $("html").classList.toggle("view-hidden", isTrace);
    if (isTrace) {
      mountGraph();
      mountBook();
      $("tensor").innerHTML = "";  // a box's values, once one is clicked
      $("tensor").classList.add("view-hidden");
      if (tab.steps && tab.steps.length) go(0);
      else $("panel").innerHTML = "<p class='note'>" + (tab.note || "") + "</p>";
    } else {
      $("html").innerHTML = tab.html;
    }
  }

  // ---- start ------------------------------------------------------------------------------
  document.title = data.title;
  $("title").textContent = data.title;
  const tabs = document.querySelector(".tabs");
  data.tabs.forEach((t, k) => {
    const b = el("button", { "data-tab": t.name }, t.name);
    b.addEventListener("click", () => selectTab(k));
    tabs.appendChild(b);
  });
  $("prev").addEventListener("click", () => go(step - 1));
  $("next").addEventListener("click", () => go(step + 1));
  $("first").addEventListener("click", () => go(0));
  $("last").addEventListener("click", () => go(tab.steps.length - 1));
  $("jump").addEventListener("change", () => go(parseInt($("jump").value, 10) - 1));
  $("jump").addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(parseInt($("jump").value, 10) - 1); });
  document.addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "INPUT" || !tab || tab.kind !== "trace") return;
    if (ev.key === "ArrowRight") { go(step + 1); ev.preventDefault(); }
    if (ev.key === "ArrowLeft") { go(step - 1); ev.preventDefault(); }
    if (ev.key === "Home") go(0);
    if (ev.key === "End") go(tab.steps.length - 1);
  });
  selectTab(0);
})();
