/* Group page: refresh the group's status and each member's agent status (online/offline,
 * last seen) every few seconds from status.json, without reloading the page. */
"use strict";

(function () {
  const page = document.getElementById("group-page");
  if (!page) return;
  const url = page.dataset.statusUrl;
  const DC = window.DeepChain;

  function render(data) {
    const badge = document.getElementById("group-status");
    if (badge && badge.textContent !== data.status) {
      badge.textContent = data.status;
      badge.className = `badge ${data.status}`;
    }
    const reason = document.getElementById("group-reason");
    if (reason && data.status_reason) { reason.textContent = data.status_reason; reason.hidden = false; }
    for (const m of data.members) {
      const row = document.querySelector(`tr[data-member="${m.id}"]`);
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
