/* Group page: refresh the group's status and each member's agent status (online/offline,
 * last seen) every few seconds from status.json, without reloading the page. */
"use strict";

(function () {
  const page = document.getElementById("group-page");
  if (!page) return;
  const url = page.dataset.statusUrl;
  const DC = window.DeepChain;

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }

  function addRow(m) {
    // a member who joined after this page was loaded (e.g. through its agent)
    let table = document.getElementById("member-table");
    if (!table) return null;
    const tr = document.createElement("tr");
    tr.dataset.member = m.id;
    tr.append(cell(m.index ? `P${m.index}` : "—"));
    const who = cell(m.user);
    if (m.simulated) { const b = document.createElement("span"); b.className = "badge"; b.textContent = `simulated · ${m.behaviour}`; who.append(" ", b); }
    tr.append(who);
    const addr = cell(""); const code = document.createElement("code"); code.title = m.address;
    code.textContent = `${m.address.slice(0, 19)}…`; addr.append(code); tr.append(addr);
    tr.append(cell(String(m.data_size), "num"));
    const st = cell(""); const b = document.createElement("span"); b.className = `badge ${m.status}`; b.textContent = m.status; st.append(b); tr.append(st);
    const agent = cell("", "agent-cell");
    const state = document.createElement("span"); state.className = "badge agent-state";
    const seen = document.createElement("span"); seen.className = "muted agent-seen";
    agent.append(state, " ", seen); tr.append(agent);
    tr.append(cell(""));
    table.querySelector("tbody").append(tr);
    return tr;
  }

  function render(data) {
    const badge = document.getElementById("group-status");
    if (badge && badge.textContent !== data.status) {
      badge.textContent = data.status;
      badge.className = `badge ${data.status}`;
    }
    const reason = document.getElementById("group-reason");
    if (reason && data.status_reason) { reason.textContent = data.status_reason; reason.hidden = false; }
    for (const m of data.members) {
      let row = document.querySelector(`tr[data-member="${m.id}"]`);
      if (!row) row = addRow(m);
      if (!row) continue;
      const state = row.querySelector(".agent-state");
      const seen = row.querySelector(".agent-seen");
      const a = m.agent;
      const word = a.simulated ? "simulated" : (a.online ? "online" : "offline");
      state.textContent = word;
      state.className = `badge ${a.online ? "online" : "offline"} agent-state`;
      if (a.last_seen_ms) {
        seen.innerHTML = "";
        seen.append("last seen ");
        const t = document.createElement("time");
        t.setAttribute("datetime", new Date(a.last_seen_ms).toISOString());
        t.textContent = DC.both(a.last_seen_ms);
        seen.append(t);
      } else if (!a.simulated) {
        seen.textContent = "never seen";
      }
    }
    const start = document.getElementById("start-group");
    if (start) start.classList.toggle("secondary", !data.all_online);
    page.dataset.allOnline = data.all_online ? "yes" : "no";
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => { if (data) render(data); })
      .catch(() => {})
      .finally(() => setTimeout(poll, 3000));
  }
  setTimeout(poll, 1000);
})();
