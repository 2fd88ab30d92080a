// fineprune dashboard charts: a tiny SVG renderer with no dependencies. It draws the
// same two charts as the C++ report (common/dashboard/svg_chart.cpp): grouped bars
// and lines, values being fractions shown as percentages.
"use strict";

const FPCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const LEFT = 64, RIGHT = 24, TOP = 56, HEIGHT = 380;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, content, attrs) {
    const t = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = content;
    return t;
  }
  function titled(node, content) {
    el("title", {}, node).textContent = content;
    return node;
  }
  const pct = (v) => (100 * v).toFixed(1) + "%";
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

  function frame(width, height, title, legend) {
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: width,
                            height: height, "font-family": "sans-serif", "font-size": 12 });
    el("rect", { width: width, height: height, fill: "#ffffff" }, svg);
    if (title) text(svg, LEFT, 22, title, { "font-size": 15, "font-weight": "bold" });
    let x = LEFT;
    for (const item of legend) {
      const g = el("g", { class: "legend-item" }, svg);
      el("rect", { x: x, y: 32, width: 12, height: 12, fill: item.color }, g);
      text(g, x + 16, 42, item.name);
      x += 28 + 7 * item.name.length;
    }
    return svg;
  }

  function yAxis(svg, yMin, left, right, top, bottom, label) {
    const step = 1 - yMin > 0.5 ? 0.2 : 0.1;
    for (let v = yMin; v <= 1 + 1e-9; v += step) {
      const y = bottom - (v - yMin) / (1 - yMin) * (bottom - top);
      el("line", { x1: left, y1: y, x2: right, y2: y, stroke: "#dddddd" }, svg);
      text(svg, left - 6, y + 4, Math.round(100 * v) + "%", { "text-anchor": "end" });
    }
    el("line", { x1: left, y1: top, x2: left, y2: bottom, stroke: "#333333" }, svg);
    text(svg, 0, 0, label, { transform: `translate(16 ${(top + bottom) / 2}) rotate(-90)`,
                             "text-anchor": "middle" });
  }

  // spec: {title, yLabel, groups: [name], series: [{name, color, key, values: [number|null]}]}
  function bars(container, spec) {
    const nGroups = Math.max(1, spec.groups.length), nSeries = Math.max(1, spec.series.length);
    const groupWidth = Math.max(48, 14 * nSeries + 20);
    const plotWidth = Math.max(480, groupWidth * nGroups);
    const width = LEFT + plotWidth + RIGHT;
    const longest = spec.groups.reduce((m, g) => Math.max(m, g.length), 0);
    const height = HEIGHT + Math.min(160, 12 + 5.5 * longest);
    const top = TOP + 10, bottom = HEIGHT - 10, left = LEFT, right = LEFT + plotWidth;
    const gw = plotWidth / nGroups, bw = gw * 0.8 / nSeries;
    const svg = frame(width, height, spec.title, spec.series);
    svg.setAttribute("class", "bar-chart");
    yAxis(svg, 0, left, right, top, bottom, spec.yLabel || "accuracy");
    spec.groups.forEach((group, g) => {
      const gx = left + gw * g;
      spec.series.forEach((s, k) => {
        const v = s.values[g];
        if (v === null || v === undefined) return;
        const h = clamp(v, 0, 1) * (bottom - top);
        titled(el("rect", { class: "bar bar-" + (s.key || k), x: gx + gw * 0.1 + bw * k,
                            y: bottom - h, width: bw, height: h, fill: s.color,
                            "data-group": group, "data-value": v }, svg),
               `${group} - ${s.name}: ${pct(v)}`);
      });
      text(svg, 0, 0, group, { transform: `translate(${gx + gw / 2 + 4} ${bottom + 16}) rotate(-35)`,
                               "text-anchor": "end" });
    });
    el("line", { x1: left, y1: bottom, x2: right, y2: bottom, stroke: "#333333" }, svg);
    container.replaceChildren(svg);
  }

  // spec: {title, xLabel, yLabel, series: [{name, color, width, legend, line, points: [[x, y]]}]}
  function lines(container, spec) {
    const width = 720, height = HEIGHT + 40;
    const top = TOP + 10, bottom = HEIGHT - 10, left = LEFT, right = width - RIGHT;
    let low = 1;
    for (const s of spec.series) for (const p of s.points) low = Math.min(low, p[1]);
    const yMin = clamp(Math.floor(low * 10 - 1e-9) / 10, 0, 0.9);
    const px = (x) => left + clamp(x, 0, 1) * (right - left);
    const py = (y) => bottom - (clamp(y, yMin, 1) - yMin) / (1 - yMin) * (bottom - top);
    const svg = frame(width, height, spec.title, spec.series.filter((s) => s.legend !== false));
    svg.setAttribute("class", "line-chart");
    yAxis(svg, yMin, left, right, top, bottom, spec.yLabel || "accuracy");
    for (let i = 0; i <= 10; i += 2) {
      const x = px(i / 10);
      el("line", { x1: x, y1: bottom, x2: x, y2: bottom + 5, stroke: "#333333" }, svg);
      text(svg, x, bottom + 19, i * 10 + "%", { "text-anchor": "middle" });
    }
    el("line", { x1: left, y1: bottom, x2: right, y2: bottom, stroke: "#333333" }, svg);
    text(svg, (left + right) / 2, bottom + 38, spec.xLabel || "sparsity", { "text-anchor": "middle" });
    for (const s of spec.series) {
      if (!s.points.length) continue;
      const w = s.width || 1.5;
      if (s.line !== false) {
        el("polyline", { class: "line", points: s.points.map((p) => `${px(p[0])},${py(p[1])}`).join(" "),
                         fill: "none", stroke: s.color, "stroke-width": w, "data-series": s.name }, svg);
      }
      for (const p of s.points) {
        titled(el("circle", { class: "point", cx: px(p[0]), cy: py(p[1]), r: w + 1.5, fill: s.color,
                              "data-series": s.name, "data-sparsity": p[0], "data-accuracy": p[1] }, svg),
               `${s.name}: sparsity ${pct(p[0])}, accuracy ${pct(p[1])}`);
      }
    }
    container.replaceChildren(svg);
  }

  const METHODS = [
    { key: "general", name: "General", color: "#8c8c8c" },
    { key: "fine_prune", name: "Fine-Pruning", color: "#1f77b4" },
    { key: "finetune", name: "Backprop fine-tuning", color: "#ff7f0e" },
    { key: "svd", name: "SVD", color: "#2ca02c" },
  ];
  const PALETTE = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
                   "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];

  // The paper's Figure 2: per-individual accuracy of each method, from /api/campaigns/<id>.
  function accuracyFigure(container, campaign) {
    const groups = campaign.individuals.map((i) => i.individual);
    const series = METHODS.map((m) => Object.assign({}, m, {
      values: campaign.individuals.map((i) => i[m.key]) }))
      .filter((s) => s.values.some((v) => v !== null && v !== undefined));
    bars(container, { title: "Accuracy per individual - " + campaign.name, yLabel: "accuracy",
                      groups: groups, series: series });
  }

  // The paper's Figure 3a: accuracy vs sparsity, from /api/campaigns/<id>/curve.
  // Each curve starts at the general model (sparsity 0), as in the paper's figure;
  // red markers show the sparsity each device chose without labels.
  function curveFigure(container, curve) {
    const few = curve.individuals.length <= 6;
    const start = (general) => (general === null || general === undefined ? [] : [[0, general]]);
    const series = curve.individuals.map((i, k) => ({
      name: i.individual, color: PALETTE[k % PALETTE.length], width: 1.2, legend: few,
      points: start(i.general).concat(i.points.map((p) => [p.sparsity, p.accuracy])) }));
    const generals = curve.individuals.map((i) => i.general).filter((g) => g !== null && g !== undefined);
    const meanGeneral = generals.length ? generals.reduce((a, b) => a + b, 0) / generals.length : null;
    series.push({ name: "mean", color: "#000000", width: 2.5, legend: true,
                  points: start(meanGeneral).concat(curve.mean.map((p) => [p.sparsity, p.accuracy])) });
    const chosen = curve.individuals.filter((i) => i.chosen).map((i) => [i.chosen.sparsity, i.chosen.accuracy]);
    if (chosen.length) {
      series.push({ name: "label-free choice", color: "#d62728", width: 2.5, legend: true,
                    line: false, points: chosen });
    }
    lines(container, { title: "Accuracy vs sparsity (Fine-Pruning) - " + curve.name,
                       xLabel: "sparsity (pruned share of prunable weights)", yLabel: "accuracy",
                       series: series });
  }

  return { bars, lines, accuracyFigure, curveFigure, METHODS };
})();
