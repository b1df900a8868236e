// DRIMcheck console: live campaign progress and the operator's prompts (Server-Sent Events), the profile
// reachability button, file drop.
"use strict";

function csrfToken() {
  const field = document.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function liveCampaign(section) {
  if (section.dataset.terminal === "yes" || !window.EventSource) return;
  const progress = document.getElementById("progress");
  const text = document.getElementById("progress-text");
  const tests = document.querySelector("#tests tbody");
  const soFar = document.querySelector("#so-far tbody");
  const order = ["failed", "error", "inconclusive", "skipped", "not_applicable", "passed"];
  const source = new EventSource(section.dataset.events);
  source.addEventListener("progress", (event) => {
    const item = JSON.parse(event.data);
    if (!item.outcome) return;
    progress.max = Math.max(item.total, 1);
    progress.value = item.done;
    text.textContent = item.done + "/" + item.total + " tests";
    if (tests) {
      const row = document.createElement("tr");
      cell(row, String(item.done));
      cell(row, item.outcome, "outcome " + item.outcome);
      cell(row, item.requirements.join(", "));
      cell(row, item.test);
      tests.appendChild(row);
    }
    for (const rid of item.requirements) {
      let row = soFar.querySelector('tr[data-rid="' + CSS.escape(rid) + '"]');
      if (!row) {
        row = document.createElement("tr");
        row.dataset.rid = rid;
        cell(row, rid);
        cell(row, item.outcome, "outcome " + item.outcome);
        soFar.appendChild(row);
      } else {
        const td = row.children[1];
        if (order.indexOf(item.outcome) < order.indexOf(td.textContent)) {
          td.textContent = item.outcome;
          td.className = "outcome " + item.outcome;
        }
      }
    }
  });
  source.addEventListener("state", (event) => {
    const state = JSON.parse(event.data).state;
    const badge = document.getElementById("state");
    badge.textContent = state;
    badge.className = "state " + state;
  });
  const operator = document.getElementById("operator");
  if (operator) {
    source.addEventListener("operator", async (event) => {
      const id = JSON.parse(event.data).id;
      if (operator.dataset.prompt === String(id === null ? "" : id)) return;
      const response = await fetch(operator.dataset.url, {headers: {"Accept": "text/html"}});
      if (!response.ok) return;
      operator.innerHTML = await response.text();
      operator.dataset.prompt = id === null ? "" : String(id);
    });
    source.addEventListener("traffic", (event) => {
      const item = JSON.parse(event.data);
      const tbody = operator.querySelector("#operator-traffic tbody");
      if (!tbody || operator.dataset.prompt !== String(item.prompt)) return;
      for (const ex of item.exchanges) {
        if (tbody.querySelector('tr[data-id="' + CSS.escape(ex.id) + '"]')) continue;
        const row = document.createElement("tr");
        row.dataset.id = ex.id;
        const td = document.createElement("td");
        const link = document.createElement("a");
        link.href = operator.dataset.exchanges + encodeURIComponent(ex.id);
        link.textContent = ex.summary || ex.id;
        td.appendChild(link);
        row.appendChild(td);
        cell(row, ex.protocol || "");
        cell(row, (ex.actor || "") + " (" + (ex.direction || "") + ")");
        cell(row, (ex.status || "") + (ex.error ? " " + ex.error : ""));
        tbody.appendChild(row);
      }
    });
  }
  source.addEventListener("end", () => {
    source.close();
    window.location.reload();
  });
}

function reachabilityButton(button) {
  button.addEventListener("click", async () => {
    const form = document.getElementById("profile-form");
    const body = new FormData();
    body.append("yaml", form.querySelector("textarea[name=yaml]").value);
    body.append("csrf_token", csrfToken());
    button.disabled = true;
    try {
      const response = await fetch(button.dataset.url, {method: "POST", body: body,
                                                         headers: {"X-CSRF-Token": csrfToken()}});
      const rows = await response.json();
      const table = document.getElementById("reachability-result");
      const tbody = table.querySelector("tbody");
      tbody.replaceChildren();
      if (rows.length === 0) {
        const row = document.createElement("tr");
        cell(row, "no endpoint address in this profile");
        tbody.appendChild(row);
      }
      for (const r of rows) {
        const row = document.createElement("tr");
        cell(row, r.field);
        cell(row, r.address);
        cell(row, r.message, r.ok ? "outcome passed" : "outcome failed");
        tbody.appendChild(row);
      }
      table.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
}

function dropZone(zone) {
  const input = document.getElementById("file");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    input.files = event.dataTransfer.files;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) liveCampaign(live);
  const button = document.getElementById("reachability");
  if (button) reachabilityButton(button);
  const zone = document.getElementById("drop");
  if (zone) dropZone(zone);
});
