// The status page a node serves on `/`: plain HTML and JavaScript, no
// external assets. It fetches `/api/cluster` every two seconds and shows
// the members (and which runs the orchestrator), the running tasks per node
// and the latest lifecycle events. Every value is set as text, never as
// HTML: task names and reasons come from users.

#include "server.hpp"

namespace dtask {

const char* status_page_html() {
  return R"page(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dtask cluster</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; }
  h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
  table { border-collapse: collapse; min-width: 40em; }
  th, td { text-align: left; padding: .25em .8em; border-bottom: 1px solid #ddd; }
  th { background: #f3f3f3; }
  td { white-space: nowrap; }
  td:last-child { white-space: normal; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  tr.orchestrator td { font-weight: bold; }
  .muted { color: #777; }
  .error { color: #b00; }
  .ev-done { color: #060; } .ev-failed, .ev-lost { color: #b00; }
  .ev-cancelled, .ev-restarted { color: #a60; }
</style>
</head>
<body>
<h1>dtask cluster</h1>
<p>Asked node <b id="node">?</b>; orchestrator: <b id="orchestrator">?</b></p>
<p id="status" class="muted">loading...</p>
<h2>Members</h2>
<table id="members">
  <thead><tr><th>node</th><th>state</th><th>role</th><th>running tasks</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Recent events</h2>
<table id="events">
  <thead><tr><th>#</th><th>time (UTC)</th><th>event</th><th>task</th><th>node</th>
    <th>epoch</th><th>attempt</th><th>detail</th></tr></thead>
  <tbody></tbody>
</table>
<script>
"use strict";
const refreshMs = 2000;

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function showMembers(members) {
  const body = document.querySelector("#members tbody");
  body.replaceChildren();
  for (const m of members || []) {
    const row = body.insertRow();
    row.dataset.node = m.node;
    if (m.orchestrator) row.className = "orchestrator";
    cell(row, m.node);
    cell(row, m.state);
    cell(row, m.orchestrator ? "orchestrator" : "");
    cell(row, m.running, "num");
  }
}

function detail(ev) {
  if (ev.result) return "result " + JSON.stringify(ev.result);
  if (ev.progress) return "progress " + JSON.stringify(ev.progress);
  return ev.reason || "";
}

function showEvents(events) {
  const body = document.querySelector("#events tbody");
  body.replaceChildren();
  for (const ev of (events || []).slice().reverse()) {
    const row = body.insertRow();
    row.dataset.event = ev.event;
    row.dataset.name = ev.name;
    cell(row, ev.seq, "num");
    cell(row, ev.time.replace("T", " ").replace("Z", ""));
    cell(row, ev.event, "ev-" + ev.event);
    cell(row, ev.name);
    cell(row, ev.node);
    cell(row, ev.epoch, "num");
    cell(row, ev.attempt, "num");
    cell(row, detail(ev));
  }
}

function setStatus(text, isError) {
  const p = document.getElementById("status");
  p.textContent = text;
  p.className = isError ? "error" : "muted";
}

async function refresh() {
  try {
    const res = await fetch("/api/cluster", { cache: "no-store" });
    const data = await res.json();
    document.getElementById("node").textContent = data.node || "?";
    if (res.ok) {
      document.getElementById("orchestrator").textContent =
        data.orchestrator || "none";
      showMembers(data.members);
      showEvents(data.events);
      setStatus("updated " + new Date().toISOString().substring(11, 19)
                + " UTC, every " + refreshMs / 1000 + " s", false);
    } else {
      document.getElementById("orchestrator").textContent = "none";
      showMembers(data.members);
      setStatus("the cluster does not answer (" + res.status + " "
                + (data.error || "") + "): " + (data.reason || ""), true);
    }
  } catch (e) {
    setStatus("no answer from the node: " + e, true);
  }
  setTimeout(refresh, refreshMs);
}

refresh();
</script>
</body>
</html>
)page";
}

} // namespace dtask
