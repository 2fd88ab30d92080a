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
      if (s.dots === false) continue;
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
    const many = curve.individuals.length > 30;  // lines only, so 1,000 curves stay light
    const start = (general) => (general === null || general === undefined ? [] : [[0, general]]);
    const series = curve.individuals.map((i, k) => ({
      name: i.individual, color: PALETTE[k % PALETTE.length], width: many ? 0.6 : 1.2, legend: few,
      dots: !many,
      points: start(i.general).concat(i.points.map((p) => [p.sparsity, p.accuracy])) }));
    // The general model's mean over every swept individual (the API's), not just those drawn.
    const meanGeneral = curve.mean_general === undefined ? null : curve.mean_general;
    series.push({ name: "mean", color: "#000000", width: 2.5, legend: true,
                  points: start(meanGeneral).concat(curve.mean.map((p) => [p.sparsity, p.accuracy])) });
    const chosen = curve.individuals.filter((i) => i.chosen).map((i) => [i.chosen.sparsity, i.chosen.accuracy]);
    if (chosen.length) {
      series.push({ name: "label-free choice", color: "#d62728", width: many ? 0.4 : 2.5, legend: true,
                    line: false, points: chosen });
    }
    lines(container, { title: "Accuracy vs sparsity (Fine-Pruning) - " + curve.name,
                       xLabel: "sparsity (pruned share of prunable weights)", yLabel: "accuracy",
                       series: series });
  }


  // --- distributions over individuals (campaign page) -------------------------------

  const W = 560, H = 300, L = 64, R = 20, T = 40, B = 250;  // B: the x axis' y
  const pp = (v) => (v > 0 ? "+" : "") + (100 * v).toFixed(1) + " pp";
  const ppTick = (v) => (v > 0 ? "+" : "") + Math.round(1000 * v) / 10 + " pp";  // "+10 pp"

  // About `count` round tick values covering [lo, hi].
  function ticks(lo, hi, count) {
    const span = hi - lo || 1;
    const raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step; v += step) {
      out.push(Math.abs(v) < 1e-12 ? 0 : v);
    }
    return out;
  }
  function plain(width, height, title, cls) {
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: width, height: height,
                            "font-family": "sans-serif", "font-size": 12, class: cls });
    el("rect", { width: width, height: height, fill: "#ffffff" }, svg);
    text(svg, L, 22, title, { "font-size": 15, "font-weight": "bold" });
    return svg;
  }
  function axisLabel(svg, x, y, label, vertical) {
    text(svg, 0, 0, label, { transform: `translate(${x} ${y})` + (vertical ? " rotate(-90)" : ""),
                             "text-anchor": "middle" });
  }
  function hTicks(svg, values, px, format) {
    for (const v of values) {
      el("line", { x1: px(v), y1: B, x2: px(v), y2: B + 5, stroke: "#333333" }, svg);
      text(svg, px(v), B + 18, format(v), { "text-anchor": "middle" });
    }
    el("line", { x1: L, y1: B, x2: W - R, y2: B, stroke: "#333333" }, svg);
  }
  function vTicks(svg, values, py, format) {
    for (const v of values) {
      el("line", { x1: L, y1: py(v), x2: W - R, y2: py(v), stroke: "#eeeeee" }, svg);
      text(svg, L - 6, py(v) + 4, format(v), { "text-anchor": "end" });
    }
    el("line", { x1: L, y1: T, x2: L, y2: B, stroke: "#333333" }, svg);
  }
  function empty(container, message) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = message;
    container.replaceChildren(p);
  }
  function median(sorted) {
    const m = sorted.length >> 1;
    return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
  }

  // Fine-Pruning's gain per individual, sorted: who gains, who loses, by how much.
  function gainCurve(container, gains) {
    if (!gains.length) return empty(container, "No individual has both accuracies yet.");
    const g = gains.slice().sort((a, b) => a - b);
    const lo = Math.min(0, g[0]), hi = Math.max(0, g[g.length - 1]);
    const yt = ticks(lo, hi, 5), y0 = Math.min(lo, yt[0]), y1 = Math.max(hi, yt[yt.length - 1]);
    const px = (i) => L + (g.length === 1 ? 0.5 : i / (g.length - 1)) * (W - R - L);
    const py = (v) => B - (v - y0) / (y1 - y0 || 1) * (B - T);
    const svg = plain(W, H + 10, "Fine-Pruning gain per individual, sorted", "gain-chart");
    for (const [k, v] of [["count", g.length], ["min", g[0]], ["median", median(g)],
                          ["max", g[g.length - 1]]]) svg.setAttribute("data-" + k, v);
    vTicks(svg, yt, py, ppTick);
    const pts = g.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`);
    el("polygon", { class: "gain-area", points: `${px(0)},${py(0)} ${pts.join(" ")} ${px(g.length - 1)},${py(0)}`,
                    fill: "#1f77b4", "fill-opacity": 0.18, stroke: "none" }, svg);
    el("polyline", { class: "gain-line", points: pts.join(" "), fill: "none", stroke: "#1f77b4",
                     "stroke-width": 1.8, "data-count": g.length }, svg);
    el("line", { x1: L, y1: py(0), x2: W - R, y2: py(0), stroke: "#333333",
                 "stroke-dasharray": "4 3" }, svg);
    hTicks(svg, [0, 0.25, 0.5, 0.75, 1], (f) => L + f * (W - R - L), (f) => Math.round(100 * f) + "%");
    axisLabel(svg, (L + W - R) / 2, B + 36, "individuals, ranked by gain");
    axisLabel(svg, 12, (T + B) / 2, "gain over general", true);
    const losers = g.filter((v) => v < 0).length;
    text(svg, L, T - 2, `median ${pp(median(g))}; ${losers} of ${g.length} individuals lose accuracy`,
         { fill: "#6b7280", class: "gain-note" });
    container.replaceChildren(svg);
  }

  // Bins of a round width (0.1 to 10 pp), at most ~30 of them. A gain g falls in the
  // bin [lo, hi) with lo = k * width, the last bin closed, as the data-* attributes say.
  function histogramBins(values) {
    const lo = Math.min(...values), hi = Math.max(...values);
    const widths = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];
    const width = widths.find((w) => (hi - lo) / w <= 30) || 0.1;
    const first = Math.floor(lo / width), last = Math.max(first, Math.floor(hi / width));
    const bins = [];
    for (let k = first; k <= last; ++k) bins.push({ lo: k * width, hi: (k + 1) * width, count: 0 });
    for (const v of values) {
      let i = Math.min(bins.length - 1, Math.max(0, Math.floor(v / width) - first));
      while (i > 0 && v < bins[i].lo) --i;
      while (i < bins.length - 1 && v >= bins[i].hi) ++i;
      bins[i].count++;
    }
    return bins;
  }

  function histogram(container, gains) {
    if (!gains.length) return empty(container, "No individual has both accuracies yet.");
    const bins = histogramBins(gains);
    const top = Math.max(...bins.map((b) => b.count));
    const x0 = bins[0].lo, x1 = bins[bins.length - 1].hi;
    const px = (v) => L + (v - x0) / (x1 - x0) * (W - R - L);
    const yt = ticks(0, top, 5);
    while (yt[yt.length - 1] < top) yt.push(yt[yt.length - 1] + (yt[1] - yt[0]));  // headroom
    const ymax = yt[yt.length - 1];
    const py = (c) => B - c / ymax * (B - T);
    const svg = plain(W, H + 10, "Histogram of Fine-Pruning gains", "histogram");
    svg.setAttribute("data-total", gains.length);
    vTicks(svg, yt, py, (c) => String(c));
    for (const b of bins) {
      titled(el("rect", { class: "hist-bar", x: px(b.lo) + 0.5, y: py(b.count),
                          width: Math.max(1, px(b.hi) - px(b.lo) - 1), height: B - py(b.count),
                          fill: b.hi <= 1e-12 ? "#d62728" : "#1f77b4", "data-lo": b.lo,
                          "data-hi": b.hi, "data-count": b.count }, svg),
             `${pp(b.lo)} to ${pp(b.hi)}: ${b.count} individuals`);
    }
    hTicks(svg, ticks(x0, x1, 6), px, ppTick);
    if (x0 < 0 && x1 > 0) {
      el("line", { x1: px(0), y1: T, x2: px(0), y2: B, stroke: "#333333", "stroke-dasharray": "4 3" }, svg);
    }
    axisLabel(svg, (L + W - R) / 2, B + 36, "accuracy gain vs general (red: a loss)");
    axisLabel(svg, 16, (T + B) / 2, "individuals", true);
    container.replaceChildren(svg);
  }

  // One point per individual: the general model's accuracy (x) against the personalized
  // one (y); above the diagonal, Fine-Pruning helped.
  function scatter(container, points) {
    if (!points.length) return empty(container, "No individual has both accuracies yet.");
    let low = 1;
    for (const p of points) low = Math.min(low, p.x, p.y);
    const lo = clamp(Math.floor(low * 10 - 1e-9) / 10, 0, 0.9);
    const size = B - T + 40, left = L, right = L + size, bottom = T + size;
    const px = (v) => left + (clamp(v, lo, 1) - lo) / (1 - lo) * size;
    const py = (v) => bottom - (clamp(v, lo, 1) - lo) / (1 - lo) * size;
    const width = right + 170;
    const svg = plain(width, bottom + 50, "General vs personalized accuracy", "scatter");
    svg.setAttribute("data-count", points.length);
    const t = ticks(lo, 1, 5);
    for (const v of t) {
      el("line", { x1: left, y1: py(v), x2: right, y2: py(v), stroke: "#eeeeee" }, svg);
      text(svg, left - 6, py(v) + 4, Math.round(100 * v) + "%", { "text-anchor": "end" });
      el("line", { x1: px(v), y1: bottom, x2: px(v), y2: bottom + 5, stroke: "#333333" }, svg);
      text(svg, px(v), bottom + 18, Math.round(100 * v) + "%", { "text-anchor": "middle" });
    }
    el("line", { x1: left, y1: T, x2: left, y2: bottom, stroke: "#333333" }, svg);
    el("line", { x1: left, y1: bottom, x2: right, y2: bottom, stroke: "#333333" }, svg);
    el("line", { class: "diagonal", x1: px(lo), y1: py(lo), x2: px(1), y2: py(1),
                 stroke: "#888888", "stroke-dasharray": "5 4" }, svg);
    for (const p of points) {
      titled(el("circle", { class: "scatter-point", cx: px(p.x).toFixed(1), cy: py(p.y).toFixed(1),
                            r: 2.6, fill: p.y >= p.x ? "#1f77b4" : "#d62728", "fill-opacity": 0.6,
                            "data-individual": p.name, "data-general": p.x, "data-personalized": p.y }, svg),
             `${p.name}: general ${pct(p.x)}, Fine-Pruning ${pct(p.y)}`);
    }
    const above = points.filter((p) => p.y > p.x).length, below = points.filter((p) => p.y < p.x).length;
    text(svg, right + 14, T + 20, `${above} above the diagonal`, { fill: "#1f77b4", class: "scatter-above" });
    text(svg, right + 14, T + 38, "(Fine-Pruning better)", { fill: "#6b7280" });
    text(svg, right + 14, T + 64, `${below} below`, { fill: "#d62728", class: "scatter-below" });
    text(svg, right + 14, T + 82, "(general better)", { fill: "#6b7280" });
    axisLabel(svg, (left + right) / 2, bottom + 36, "general model accuracy");
    axisLabel(svg, 16, (T + bottom) / 2, "Fine-Pruning accuracy", true);
    container.replaceChildren(svg);
  }

  // Each method's mean with its 95% interval: a dot and a whisker per row.
  // rows: [{key, name, color, n, mean, ci_low, ci_high}] (accuracies, fractions)
  function intervals(container, rows) {
    rows = rows.filter((r) => r.mean !== null && r.mean !== undefined);
    if (!rows.length) return empty(container, "No accuracy reported yet.");
    const lo = Math.min(...rows.map((r) => r.ci_low)), hi = Math.max(...rows.map((r) => r.ci_high));
    const pad = Math.max(0.005, (hi - lo) * 0.1);
    const t = ticks(lo - pad, hi + pad, 6), x0 = Math.min(lo - pad, t[0]), x1 = Math.max(hi + pad, t[t.length - 1]);
    const left = 190, right = W + 100 - R, rowH = 34, top = T + 10;
    const bottom = top + rowH * rows.length;
    const px = (v) => left + (v - x0) / (x1 - x0) * (right - left);
    const svg = el("svg", { viewBox: `0 0 ${W + 100} ${bottom + 50}`, width: W + 100, height: bottom + 50,
                            "font-family": "sans-serif", "font-size": 12, class: "ci-chart" });
    el("rect", { width: W + 100, height: bottom + 50, fill: "#ffffff" }, svg);
    text(svg, 16, 22, "Mean accuracy with 95% confidence interval (bootstrap over individuals)",
         { "font-size": 15, "font-weight": "bold" });
    for (const v of t) {
      el("line", { x1: px(v), y1: top, x2: px(v), y2: bottom, stroke: "#eeeeee" }, svg);
      text(svg, px(v), bottom + 18, (100 * v).toFixed(t[1] - t[0] < 0.01 ? 1 : 0) + "%",
           { "text-anchor": "middle" });
    }
    el("line", { x1: left, y1: bottom, x2: right, y2: bottom, stroke: "#333333" }, svg);
    rows.forEach((r, k) => {
      const y = top + rowH * (k + 0.5);
      const g = el("g", { class: "ci-row", "data-method": r.key, "data-n": r.n, "data-mean": r.mean,
                          "data-ci-low": r.ci_low, "data-ci-high": r.ci_high }, svg);
      text(g, 16, y + 4, `${r.name} (n=${r.n})`);
      el("line", { x1: px(r.ci_low), y1: y, x2: px(r.ci_high), y2: y, stroke: r.color, "stroke-width": 2.5 }, g);
      for (const v of [r.ci_low, r.ci_high]) {
        el("line", { x1: px(v), y1: y - 7, x2: px(v), y2: y + 7, stroke: r.color, "stroke-width": 2 }, g);
      }
      titled(el("circle", { cx: px(r.mean), cy: y, r: 5, fill: r.color }, g),
             `${r.name}: ${pct(r.mean)} [${pct(r.ci_low)}, ${pct(r.ci_high)}]`);
    });
    axisLabel(svg, (left + right) / 2, bottom + 38, "accuracy");
    container.replaceChildren(svg);
  }

  return { bars, lines, accuracyFigure, curveFigure, gainCurve, histogram, histogramBins, scatter,
           intervals, METHODS };
})();
