// The acceptance chart of /analytics: reads analytics/rules and draws one horizontal bar per
// rule as SVG. Everything from the server is set as text (textContent / attributes), never
// as markup: override reason codes come from EHR clients.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const LABEL_WIDTH = 190;
  const BAR_WIDTH = 380;
  const VALUE_GAP = 12;
  const ROW = 36;
  const TOP = 24;

  function svg(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) {
      node.setAttribute(key, String(value));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function html(name, attributes, text) {
    const node = document.createElement(name);
    for (const [key, value] of Object.entries(attributes || {})) {
      node.setAttribute(key, String(value));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function percent(rate) {
    return rate === null ? "–" : (rate * 100).toFixed(1) + "%";
  }

  function valueText(rule) {
    const decided = rule.accepted + rule.overridden;
    if (rule.shown === 0) return "no cards shown";
    if (decided === 0) return "no feedback yet (" + rule.shown + " shown)";
    return percent(rule.acceptanceRate) + " accepted (" + rule.accepted + " of " + decided +
      "; " + rule.shown + " shown)";
  }

  function reasonsText(rule) {
    return rule.topOverrideReasons.map(function (reason) {
      const name = reason.code === null ? "(no reason given)" :
        (reason.display ? reason.display + " [" + reason.code + "]" : reason.code);
      return name + ": " + reason.count;
    }).join("; ");
  }

  function drawChart(report) {
    const rules = report.rules;
    const height = TOP + rules.length * ROW + 8;
    const width = LABEL_WIDTH + BAR_WIDTH + VALUE_GAP + 260;
    const chart = svg("svg", {
      viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img",
      "aria-label": "Acceptance rate by rule", "class": "acceptance-chart",
    });
    [0, 0.25, 0.5, 0.75, 1].forEach(function (tick) {
      const x = LABEL_WIDTH + tick * BAR_WIDTH;
      chart.appendChild(svg("line", { x1: x, x2: x, y1: TOP - 6, y2: height - 8,
        "class": "gridline" }));
      chart.appendChild(svg("text", { x: x, y: TOP - 10, "text-anchor": "middle",
        "class": "axis" }, tick * 100 + "%"));
    });
    rules.forEach(function (rule, index) {
      const y = TOP + index * ROW;
      const decided = rule.accepted + rule.overridden;
      const acceptedWidth = decided ? BAR_WIDTH * rule.accepted / decided : 0;
      const overriddenWidth = decided ? BAR_WIDTH - acceptedWidth : 0;
      const group = svg("g", {
        "class": "rule-bar", "data-rule-id": rule.ruleId, "data-shown": rule.shown,
        "data-accepted": rule.accepted, "data-overridden": rule.overridden,
        "data-acceptance-rate": rule.acceptanceRate === null ? "" : rule.acceptanceRate,
      });
      group.appendChild(svg("title", {}, (rule.title || rule.ruleId) + ": " + valueText(rule)));
      group.appendChild(svg("text", { x: LABEL_WIDTH - 10, y: y + 18, "text-anchor": "end",
        "class": "bar-label" }, rule.ruleId));
      group.appendChild(svg("rect", { x: LABEL_WIDTH, y: y + 4, width: BAR_WIDTH, height: 20,
        "class": "bar-track" }));
      group.appendChild(svg("rect", { x: LABEL_WIDTH, y: y + 4, width: acceptedWidth.toFixed(1),
        height: 20, "class": "bar-accepted" }));
      group.appendChild(svg("rect", { x: (LABEL_WIDTH + acceptedWidth).toFixed(1), y: y + 4,
        width: overriddenWidth.toFixed(1), height: 20, "class": "bar-overridden" }));
      group.appendChild(svg("text", { x: LABEL_WIDTH + BAR_WIDTH + VALUE_GAP, y: y + 18,
        "class": "bar-value" }, valueText(rule)));
      chart.appendChild(group);
    });
    const holder = document.getElementById("chart");
    holder.replaceChildren(chart);
  }

  function fillTable(report) {
    const body = document.querySelector("#details tbody");
    body.replaceChildren();
    report.rules.forEach(function (rule) {
      const row = html("tr", { "data-rule-id": rule.ruleId });
      const name = html("td");
      name.appendChild(html("div", {}, rule.ruleId));
      if (rule.title) name.appendChild(html("div", { "class": "title" }, rule.title));
      row.appendChild(name);
      [rule.shown, rule.accepted, rule.overridden, rule.noFeedback].forEach(function (value) {
        row.appendChild(html("td", { "class": "number" }, String(value)));
      });
      row.appendChild(html("td", { "class": "number" }, percent(rule.acceptanceRate)));
      row.appendChild(html("td", {}, reasonsText(rule)));
      body.appendChild(row);
    });
  }

  function setStatus(text, isError) {
    const status = document.getElementById("status");
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  async function load(since) {
    setStatus("Loading…", false);
    const url = "analytics/rules" + (since ? "?since=" + encodeURIComponent(since) : "");
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" },
        credentials: "same-origin" });
    } catch (error) {
      setStatus("The service cannot be reached.", true);
      return;
    }
    if (response.status === 401) {
      setStatus("The analytics data needs the same client authentication as the hooks; run " +
        "`cds-service report` on the server for the same numbers.", true);
      return;
    }
    let body;
    try {
      body = await response.json();
    } catch (error) {
      setStatus("The service answered " + response.status + " without JSON.", true);
      return;
    }
    if (!response.ok) {
      const issue = body && body.issue && body.issue[0];
      setStatus("The service answered " + response.status +
        (issue && issue.diagnostics ? ": " + issue.diagnostics : "."), true);
      return;
    }
    drawChart(body);
    fillTable(body);
    const totals = body.totals;
    setStatus(totals.shown + " cards shown" + (body.since ? " since " + body.since : "") +
      "; " + totals.accepted + " accepted, " + totals.overridden + " overridden, " +
      totals.noFeedback + " without feedback. Report of " + body.generatedAt + ".", false);
    document.body.setAttribute("data-loaded", "true");
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("filter");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      load(document.getElementById("since").value);
    });
    const since = new URLSearchParams(window.location.search).get("since") || "";
    document.getElementById("since").value = since;
    load(since);
  });
})();
