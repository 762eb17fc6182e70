// The console's few behaviours: the Debugger's payload views and live follow, and the charts.
// Payloads are untrusted: they only ever reach the page as text (textContent), never as markup.
"use strict";

function payloadRows(message) {
  const payload = message.nextElementSibling;
  message.addEventListener("click", () => {
    payload.hidden = !payload.hidden;
    message.classList.toggle("open", !payload.hidden);
  });
  message.addEventListener("keydown", (event) => {
    if (event.key === "Enter") message.click();
  });
  for (const button of payload.querySelectorAll("button[data-view]")) {
    button.addEventListener("click", () => {
      for (const other of payload.querySelectorAll("button[data-view]")) {
        const chosen = other === button;
        other.setAttribute("aria-pressed", String(chosen));
        payload.querySelector("pre." + other.dataset.view).hidden = !chosen;
      }
    });
  }
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) {
    const pill = document.createElement("span");
    pill.className = "pill " + className;
    pill.textContent = text;
    td.appendChild(pill);
  } else {
    td.textContent = text;
  }
  return td;
}

function rowsFor(row) {
  const message = document.createElement("tr");
  message.className = "message new";
  message.tabIndex = 0;
  message.dataset.id = row.id;
  message.append(cell(row.received_at), cell(row.type, row.type), cell(row.label), cell(row.user));
  const payload = document.createElement("tr");
  payload.className = "payload";
  payload.hidden = true;
  const td = document.createElement("td");
  td.colSpan = 4;
  const views = document.createElement("div");
  views.className = "views";
  for (const [view, label] of [["pretty", "Pretty"], ["raw", "Raw"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.view = view;
    button.textContent = label;
    button.setAttribute("aria-pressed", String(view === "pretty"));
    views.appendChild(button);
  }
  const pretty = document.createElement("pre");
  pretty.className = "pretty";
  pretty.textContent = row.pretty;
  const raw = document.createElement("pre");
  raw.className = "raw";
  raw.hidden = true;
  raw.textContent = row.raw;
  td.append(views, pretty, raw);
  payload.appendChild(td);
  return [message, payload];
}

function followDebugger(table) {
  const body = table.tBodies[0];
  const form = document.getElementById("debugger-filters");
  const live = document.getElementById("live");
  const limit = Number(table.dataset.limit);
  let cursor = table.dataset.cursor;
  for (const message of body.querySelectorAll("tr.message")) payloadRows(message);

  async function poll() {
    if (live.checked && !document.hidden) {
      const query = new URLSearchParams(new FormData(form));
      query.set("after", cursor);
      try {
        const answer = await fetch(table.dataset.api + "?" + query.toString());
        if (answer.ok) {
          const page = await answer.json();
          cursor = page.cursor;
          if (page.sampling) document.getElementById("sampling").textContent = page.sampling;
          for (const row of page.rows.slice().reverse()) {
            if (body.querySelector(`tr.message[data-id="${CSS.escape(row.id)}"]`)) continue;
            const [message, payload] = rowsFor(row);
            body.prepend(message, payload);
            payloadRows(message);
          }
          if (page.rows.length) document.getElementById("no-messages")?.remove();
          const messages = body.querySelectorAll("tr.message");
          for (let i = limit; i < messages.length; i++) {
            messages[i].nextElementSibling.remove();
            messages[i].remove();
          }
        }
      } catch (error) {
        console.warn("debugger poll failed", error);
      }
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 2000);
}

function readJson(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

const PALETTE = ["#2d6cdf", "#1f8a4c", "#b7791f", "#7b2cbf", "#c53030", "#137a6f", "#a0521c", "#5a6270"];

function drawCharts() {
  if (typeof Chart === "undefined") return;
  const latency = readJson("latency-data");
  if (latency) {
    new Chart(document.getElementById("latency-chart"), {
      type: "line",
      data: {
        labels: latency.labels,
        datasets: [{ label: "P95 latency (ms)", data: latency.values, borderColor: PALETTE[0], spanGaps: false, tension: 0.2 }],
      },
      options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } } },
    });
  }
  const usage = readJson("usage-data");
  if (usage) {
    new Chart(document.getElementById("usage-chart"), {
      type: "bar",
      data: {
        labels: usage.labels,
        datasets: Object.entries(usage.series).map(([source, values], i) => ({
          label: source, data: values, backgroundColor: PALETTE[i % PALETTE.length],
        })),
      },
      options: { maintainAspectRatio: false, animation: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "events" } } } },
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("debugger");
  if (table) followDebugger(table);
  drawCharts();
});
