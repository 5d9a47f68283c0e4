/* Live dashboard: a websocket to /ws/groups/<id>/; snapshot on (re)connect, events in between.
 * Everything is shown in words: parties as Pk (name), phases as "T5 decryption share", times
 * relative and absolute, hashes as explorer links. Once the group has ended the socket is
 * closed and the live dot goes grey. */
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  if (!root) return;
  const DC = window.DeepChain;
  const $ = (id) => document.getElementById(id);
  const ENDED = ["finished", "aborted", "failed"];
  const state = { phases: [], offset: 0, parties: {}, progress: {}, ended: false, phaseLabel: "" };
  let socket = null, retry = 0, refreshTimer = null;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function badge(text) { return el("span", { class: "badge " + String(text) }, text); }
  function short(h) { return h ? String(h).slice(0, 12) + "…" : ""; }
  function txLink(h) { return el("a", { href: "/explorer/tx/" + h + "/", title: h }, short(h)); }
  function blockLink(height) { return el("a", { href: "/explorer/blocks/" + height + "/" }, "#" + height); }
  const T = { gradient_submission: "T1", verification: "T2", upload: "T3", download: "T4",
    decryption_share: "T5", return: "T6", update: "T7", verify_aggregate: "T8", append: "T9" };
  function phaseLabel(name) { if (!name) return ""; const t = T[name]; const w = String(name).replace(/_/g, " "); return t ? t + " " + w : w; }
  const REASONS = { payback: "deposit paid back", extra_pay: "extra pay", stake_return: "stake returned",
    deposit_refund: "deposit refunded", "penalty:invalid_proof": "invalid proof", "penalty:late": "late",
    "penalty:absent": "absent", worker_fee: "worker fee" };
  function reasonLabel(r) { return REASONS[r] || String(r || "").replace(/_/g, " "); }
  function who(address) {
    const p = state.parties[address];
    if (!p) return short(address);
    return p.label ? p.label + " (" + p.name + ")" : p.name;
  }
  function flash(node) { node.classList.remove("flash"); void node.offsetWidth; node.classList.add("flash"); }
  function setText(id, v) {
    const n = $(id); const s = v === null || v === undefined ? "—" : String(v);
    if (n && n.textContent !== s) { n.textContent = s; flash(n); }
  }
  function mmss(s) { s = Math.max(0, Math.round(s)); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
  function pct(a) { return a === null || a === undefined ? "—" : (100 * a).toFixed(2) + " %"; }

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
    document.querySelectorAll("#phases .phase").forEach((box) => {
      const p = state.phases.find((x) => x.name === box.dataset.phase) || {};
      const cd = box.querySelector(".cd");
      box.classList.toggle("current", !state.ended && box.dataset.phase === state.phase);
      box.classList.toggle("closed", !!p.closed_ms);
      let txt = "—";
      if (p.closed_ms) txt = "closed";
      else if (state.ended) txt = "—";
      else if (p.deadline_ms) {
        const left = (p.deadline_ms - now) / 1000;
        box.classList.toggle("overdue", left < 0);
        txt = left >= 0 ? "by " + mmss(left) : "overdue";
      }
      cd.textContent = txt;
    });
    const pr = state.progress || {};
    if (!state.ended && pr.deadline_ms) {
      const toDeadline = (pr.deadline_ms - now) / 1000;
      if (pr.expected_end_ms) {
        const toEnd = (pr.expected_end_ms - now) / 1000;
        $("expected-end").textContent = toEnd > 0 ? "expected to end in about " + mmss(toEnd) + "," : "should end any moment,";
      } else {
        $("expected-end").textContent = "";
      }
      $("phase-deadline").textContent = "deadline in " + mmss(toDeadline) + " (" + DC.absTime(pr.deadline_ms) + ")";
    } else {
      $("expected-end").textContent = ""; $("phase-deadline").textContent = "";
    }
  }
  function renderKeysetup(k) {
    const panel = $("keysetup-panel"); const list = $("keysetup");
    panel.hidden = !(k && k.active);
    list.textContent = "";
    ((k && k.steps) || []).forEach((s) => list.appendChild(el("li", { class: s.done ? "done" : "" }, s.what)));
  }
  function renderOutcome(o) {
    const card = $("outcome");
    const anyRound = o && o.rounds && o.rounds.some((r) => r.finished);
    card.hidden = !(o && (o.ended || anyRound));
    if (card.hidden) return;
    $("outcome-title").textContent = o.ended ? "Outcome: " + o.status : "So far";
    card.dataset.status = o.status;
    const reason = $("outcome-reason"); reason.hidden = !o.reason; reason.textContent = o.reason || "";
    setText("final-accuracy", pct(o.final_accuracy));
    setText("rounds-ok", o.rounds.filter((r) => r.accuracy !== null).length + " of " + $("round-total").textContent);
    setText("pool-left", o.pool_left);
    fillTable("outcome-rounds", o.rounds, (r) => [r.round, pct(r.accuracy), r.seconds === null ? "running" : r.seconds.toFixed(1) + " s", r.n_accepted, r.reason]);
    fillTable("outcome-parties", o.parties, (p) => [p.label + " (" + p.name + ")" + (p.behaviour && p.behaviour !== "honest" ? " · " + p.behaviour : ""),
      p.earned ? "+" + p.earned : "0", p.forfeited ? "-" + p.forfeited : "0", (p.net > 0 ? "+" : "") + p.net]);
  }
  function renderBlocks(blocks) {
    const list = $("blocks"); list.textContent = "";
    (blocks || []).forEach((b) => {
      const li = el("li"); li.appendChild(blockLink(b.height));
      li.appendChild(el("span", {}, " " + short(b.hash) + " · " + b.group_txs + " of " + b.tx_count + " txs"));
      if (b.timestamp_ms) li.appendChild(el("span", { class: "muted" }, " · " + DC.both(b.timestamp_ms)));
      list.appendChild(li);
    });
    $("blocks-empty").style.display = (blocks || []).length ? "none" : "";
  }
  function applySnapshot(s) {
    state.offset = s.now_ms ? s.now_ms - Date.now() : 0;
    state.phases = s.phases || [];
    state.phase = s.phase;
    state.parties = s.parties || {};
    state.progress = s.progress || {};
    state.ended = !!s.ended;
    setText("round-no", s.round);
    setText("phase-name", state.ended ? s.status : (s.phase_label || phaseLabel(s.phase) || (s.status === "keygen" ? "key setup" : "waiting")));
    const st = $("dash-status"); st.textContent = s.status; st.className = "badge " + s.status;
    $("status-reason").textContent = s.status_reason || "";
    $("progress-what").textContent = state.ended ? "" : (state.progress.what || "");
    fillTable("submissions", s.submissions || [], (x) => x.kind === "decryption_refusal"
      ? [x.round, x.party, "refused to decrypt: " + x.reason, badge("refused")]
      : [x.round, x.party, String(x.kind).replace(/_/g, " "), badge(x.status)]);
    fillTable("penalties", s.penalties || [], (x) => [x.round, x.party, x.phase_label || phaseLabel(x.phase), x.amount, x.reason_label || reasonLabel(x.reason)]);
    fillTable("payouts", s.payouts || [], (x) => [x.round, x.party || x.to_name || short(x.destination), x.amount, x.reason_label || reasonLabel(x.reason)]);
    renderBlocks(s.blocks);
    renderKeysetup(s.keysetup);
    renderOutcome(s.outcome);
    drawCurves(s.curves || {});
    renderPhases();
    if (state.ended) stopLive();
  }
  function describe(ev) {
    const p = ev.party ? who(ev.party) : (ev.index ? "P" + ev.index : "");
    switch (ev.type) {
      case "group_created": return "Group created";
      case "member_applied": return (ev.user || p) + " applied to join";
      case "member_approved": return p + " approved as P" + ev.index;
      case "member_joined": return p + " joined and staked " + ev.stake;
      case "agent_online": return p + "'s agent is online";
      case "group_status": return "Group is now " + ev.status + (ev.reason ? ": " + ev.reason : "");
      case "round_started": return "Round " + ev.round + " started";
      case "phase_changed": return (ev.closed ? phaseLabel(ev.closed) + " closed; " : "") + (ev.phase === "finished" ? "round " + ev.round + " done" : "now " + phaseLabel(ev.phase));
      case "submission": return p + " sent its " + String(ev.kind).replace(/_/g, " ") + (ev.status === "late" ? ": refused as late" : ev.bytes ? " (" + Math.round(ev.bytes / 1024) + " KiB)" : "");
      case "verification": return p + "'s " + String(ev.kind).replace(/_/g, " ") + (ev.ok ? " verified" : " rejected: " + (ev.reason || "proof failed"));
      case "penalty": return p + " penalised " + ev.amount + " (" + reasonLabel(ev.reason) + ") in " + phaseLabel(ev.phase);
      case "payout": return p + " paid " + ev.amount + " (" + reasonLabel(ev.reason) + ")";
      case "aggregate": return "Workers appended the aggregate of " + ev.n_accepted + " updates" + (ev.approvers ? " (approved by " + ev.approvers.length + ")" : "");
      case "decrypted": return "Aggregate of round " + ev.round + " decrypted from " + ev.n_accepted + " updates";
      case "metrics": return (ev.party ? p : "Collaborative model") + ": accuracy " + pct(ev.accuracy) + ", loss " + Number(ev.loss).toFixed(4);
      case "refusal": return p + " refused to decrypt the aggregate of round " + ev.round + ": " + ev.reason;
      case "round_failed": return "Round " + ev.round + " closes without decryption: " + ev.reason;
      case "round_finished": return "Round " + ev.round + " finished" + (ev.accuracy !== null && ev.accuracy !== undefined ? ": accuracy " + pct(ev.accuracy) : "") + (ev.reason ? " (" + ev.reason + ")" : "");
      case "block": return "Block #" + ev.height + " holds " + ev.group_txs + " of this group's transactions";
      default: return String(ev.type).replace(/_/g, " ");
    }
  }
  function logEvent(ev) {
    const li = el("li"); li.dataset.type = ev.type;
    li.appendChild(el("span", { class: "when", title: DC.absTime(Date.now()) }, new Date().toLocaleTimeString()));
    li.appendChild(document.createTextNode(describe(ev)));
    if (ev.type === "block" && ev.height !== undefined) { li.appendChild(document.createTextNode(" ")); li.appendChild(blockLink(ev.height)); }
    const feed = $("feed"); feed.insertBefore(li, feed.firstChild); flash(li);
    while (feed.children.length > 200) feed.removeChild(feed.lastChild);
  }
  function onEvent(ev) {
    if (ev.type === "snapshot") { applySnapshot(ev); return; }
    logEvent(ev);
    if (typeof ev.round === "number") setText("round-no", ev.round);
    if (ev.phase && ev.type === "phase_changed") { state.phase = ev.phase; setText("phase-name", phaseLabel(ev.phase)); renderPhases(); }
    // The snapshot is the source of truth: ask for a fresh one shortly after a burst of events.
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => { if (socket && socket.readyState === 1) socket.send(JSON.stringify({ action: "snapshot" })); }, 300);
  }

  // --- connection ---------------------------------------------------------------------------
  function setConn(cls, text) {
    const dot = document.querySelector("#conn .status-dot"); dot.className = "status-dot " + cls;
    $("conn-text").textContent = text; root.dataset.conn = cls;
  }
  function stopLive() {
    // the group ended: one last snapshot is shown; a late block may still arrive, then close
    setConn("ended", "group ended · not live");
    if (socket && !socket.__closing) {
      socket.__closing = true;
      setTimeout(() => { if (socket) socket.close(1000, "group ended"); }, 60000);
    }
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(proto + location.host + root.dataset.ws);
    socket.onopen = () => { retry = 0; if (!state.ended) setConn("live", "live"); };
    socket.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { console.error(e); } };
    socket.onclose = (e) => {
      if (state.ended) { setConn("ended", "group ended · not live"); return; }
      if (e.code === 4401 || e.code === 4403 || e.code === 4404) { setConn("down", e.code === 4403 ? "not allowed to watch this group" : "refused (" + e.code + ")"); return; }
      setConn("down", "reconnecting…");
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry);
    };
  }
  connect();
  setInterval(renderPhases, 1000);
})();
