/* Live dashboard: a websocket to /ws/groups/<id>/; snapshot on (re)connect, events in between. */
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const state = { phases: [], offset: 0, events: 0, seen: new Set() };
  let socket = null, retry = 0, refreshTimer = null;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function badge(text) { return el("span", { class: "badge " + String(text) }, text); }
  function short(h) { return h ? String(h).slice(0, 12) + "…" : ""; }
  function label(name) { return name ? String(name).replace(/_/g, " ") : name; }
  function plain(reason) { return String(reason || "").replace(/^(penalty|payout):/, ""); }
  function flash(node) { node.classList.remove("flash"); void node.offsetWidth; node.classList.add("flash"); }
  function setText(id, v) {
    const n = $(id); const s = v === null || v === undefined ? "—" : String(v);
    if (n && n.textContent !== s) { n.textContent = s; flash(n); }
  }

  // --- charts (Chart.js vendored in /static/frontend/vendor) --------------------------------
  const palette = ["#2f5bd3", "#1b8a4b", "#c0392b", "#b7791f", "#7b3fb3", "#138d90", "#d35400", "#5d6d7e"];
  function makeChart(id, label) {
    if (!window.Chart) return null;
    return new window.Chart($(id), {
      type: "line",
      data: { labels: [], datasets: [] },
      options: { animation: false, maintainAspectRatio: false,
        scales: { x: { title: { display: true, text: "round" } }, y: { title: { display: true, text: label } } },
        plugins: { legend: { position: "bottom" } } },
    });
  }
  const accChart = makeChart("acc-chart", "accuracy");
  const lossChart = makeChart("loss-chart", "loss");
  function drawCurves(curves) {
    const names = Object.keys(curves || {}).sort((a, b) => (a === "collaborative" ? -1 : b === "collaborative" ? 1 : a.localeCompare(b)));
    let maxRound = 0;
    names.forEach((n) => curves[n].forEach((p) => { maxRound = Math.max(maxRound, p.round); }));
    const labels = Array.from({ length: maxRound }, (_, i) => i + 1);
    [[accChart, "accuracy"], [lossChart, "loss"]].forEach(([chart, key]) => {
      if (!chart) return;
      chart.data.labels = labels;
      chart.data.datasets = names.map((n, i) => {
        const byRound = {}; curves[n].forEach((p) => { byRound[p.round] = p[key]; });
        const collab = n === "collaborative";
        return { label: n, data: labels.map((r) => (r in byRound ? byRound[r] : null)), spanGaps: true,
          borderColor: collab ? "#17203a" : palette[i % palette.length], backgroundColor: "transparent",
          borderWidth: collab ? 3 : 1.5, borderDash: collab ? [] : [4, 3], pointRadius: 3 };
      });
      chart.update();
    });
  }

  // --- rendering ----------------------------------------------------------------------------
  function fillTable(id, rows, cells) {
    const body = $(id); body.textContent = "";
    rows.forEach((r) => { const tr = el("tr"); cells(r).forEach((c) => { const td = el("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined || c === "" ? "—" : String(c); tr.appendChild(td); }); body.appendChild(tr); });
    const empty = $(id + "-empty"); if (empty) empty.style.display = rows.length ? "none" : "";
  }
  function renderPhases() {
    const now = Date.now() + state.offset;
    const current = state.phase;
    document.querySelectorAll("#phases .phase").forEach((box) => {
      const p = state.phases.find((x) => x.name === box.dataset.phase) || {};
      const cd = box.querySelector(".cd");
      box.classList.toggle("current", box.dataset.phase === current);
      box.classList.toggle("closed", !!p.closed_ms);
      let txt = "—";
      if (p.closed_ms) txt = "closed";
      else if (p.deadline_ms) {
        const left = Math.round((p.deadline_ms - now) / 1000);
        box.classList.toggle("overdue", left < 0);
        txt = left >= 0 ? Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") : "overdue";
      }
      cd.textContent = txt;
    });
  }
  function applySnapshot(s) {
    state.offset = s.now_ms ? s.now_ms - Date.now() : 0;
    state.phases = s.phases || [];
    state.phase = s.phase;
    setText("round-no", s.round);
    setText("phase-name", label(s.phase) || (s.status === "finished" ? "finished" : "waiting"));
    const st = $("dash-status"); st.textContent = s.status; st.className = "badge " + s.status;
    $("status-reason").textContent = s.status_reason || "";
    fillTable("submissions", s.submissions || [], (x) => [x.round, x.party, x.kind, badge(x.status)]);
    fillTable("penalties", s.penalties || [], (x) => [x.round, x.party, label(x.phase), x.amount, plain(x.reason)]);
    fillTable("payouts", s.payouts || [], (x) => [x.round, x.party || short(x.destination), x.amount, label(plain(x.reason))]);
    const blocks = $("blocks"); blocks.textContent = "";
    (s.blocks || []).forEach((b) => { const li = el("li"); const a = el("a", { href: "/explorer/blocks/" + b.height + "/" }, "#" + b.height + " " + short(b.hash)); li.appendChild(a); li.appendChild(el("span", { class: "muted" }, " · " + b.tx_count + " txs")); blocks.appendChild(li); });
    drawCurves(s.curves || {});
    renderPhases();
  }
  function describe(ev) {
    const skip = new Set(["type", "group"]);
    const parts = Object.keys(ev).filter((k) => !skip.has(k) && typeof ev[k] !== "object").map((k) => k + "=" + (/^[0-9a-f]{40,}$/.test(String(ev[k])) ? short(ev[k]) : ev[k]));
    return ev.type + (parts.length ? " · " + parts.join(" ") : "");
  }
  function logEvent(ev) {
    state.events += 1; setText("event-count", state.events);
    const li = el("li"); li.dataset.type = ev.type;
    li.appendChild(el("span", { class: "when" }, new Date().toLocaleTimeString()));
    li.appendChild(document.createTextNode(describe(ev)));
    const feed = $("feed"); feed.insertBefore(li, feed.firstChild); flash(li);
    while (feed.children.length > 200) feed.removeChild(feed.lastChild);
  }
  function onEvent(ev) {
    if (ev.type === "snapshot") { applySnapshot(ev); return; }
    logEvent(ev);
    if (ev.round !== undefined && typeof ev.round === "number") setText("round-no", ev.round);
    if (ev.phase) { state.phase = ev.phase; setText("phase-name", label(ev.phase)); renderPhases(); }
    // The snapshot is the source of truth: ask for a fresh one shortly after a burst of events.
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => { if (socket && socket.readyState === 1) socket.send(JSON.stringify({ action: "snapshot" })); }, 300);
  }

  // --- connection ---------------------------------------------------------------------------
  function setConn(cls, text) {
    const dot = document.querySelector("#conn .status-dot"); dot.className = "status-dot " + cls;
    $("conn-text").textContent = text; root.dataset.conn = cls;
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(proto + location.host + root.dataset.ws);
    socket.onopen = () => { retry = 0; setConn("live", "live"); };
    socket.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { console.error(e); } };
    socket.onclose = (e) => {
      if (e.code === 4401 || e.code === 4403 || e.code === 4404) { setConn("down", e.code === 4403 ? "not allowed to watch this group" : "refused (" + e.code + ")"); return; }
      setConn("down", "reconnecting…");
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry);
    };
  }
  connect();
  setInterval(renderPhases, 1000);
})();
