/* Guided group creation: the deposit at risk follows d and the rounds as they are typed; the
 * measured cost of the chosen model and key size (costs.json) gives each long phase a default
 * window (filled in while the field is untouched) and a warning when a window is shorter. */
"use strict";

(function () {
  const form = document.getElementById("group-form");
  if (!form) return;
  const f = (name) => form.elements[name];
  const WINDOW = { gradient_submission: "training_seconds", decryption_share: "share_seconds",
    verification: "phase_seconds" };
  let cost = null, timer = null, seq = 0;
  const touched = new Set();

  function num(name, fallback) { const v = parseInt(f(name).value, 10); return Number.isFinite(v) ? v : fallback; }
  function set(id, text) { const n = document.getElementById(id); if (n) n.textContent = text; }

  function risk() {
    const d = num("deposit", 0), r = num("rounds", 1);
    set("risk-stake", `${d}`);
    set("risk-message", `${d}`);
    set("risk-offline", `${d}`);
    set("risk-max", `${d} × (1 + 2 × ${r}) = ${d * (1 + 2 * r)}`);
  }

  function warn() {
    for (const [phase, field] of Object.entries(WINDOW)) {
      const box = form.querySelector(`.window-warning[data-for="${field}"]`);
      const s = cost && cost.expected_s[phase];
      const v = num(field, NaN);
      const short = cost && Number.isFinite(v) && v < s;
      box.hidden = !short;
      box.textContent = short ? `Shorter than the measured cost (about ${Math.ceil(s)} s): honest parties risk being penalised as late.` : "";
    }
  }

  function fill() {
    if (!cost) return;
    for (const [phase, field] of Object.entries(WINDOW)) {
      const row = document.querySelector(`#cost-table tr[data-phase="${phase}"]`);
      row.querySelector(".cost").textContent = `${cost.expected_s[phase].toFixed(1)} s`;
      const dflt = phase === "verification" ? Math.max(30, cost.default_s[phase]) : cost.default_s[phase];
      row.querySelector(".default").textContent = `${dflt} s`;
      if (!touched.has(field)) f(field).value = dflt;
    }
    set("cost-status", `${cost.params.toLocaleString()} parameters → ${cost.ciphertexts} ciphertexts per update at this key size.`);
    warn();
  }

  function measure() {
    const q = new URLSearchParams({ model_name: f("model_name").value, key_bits: f("key_bits").value,
      n_parties: f("n_parties").value || "3", local_iterations: f("local_iterations").value || "20" });
    const mine = ++seq;
    set("cost-status", "Measuring what a round costs on this machine…");
    fetch(`${form.dataset.costsUrl}?${q}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((data) => { if (mine === seq) { cost = data; fill(); form.dataset.costs = "ready"; } })
      .catch(() => set("cost-status", "The cost could not be measured; blank windows are derived when the form is sent."));
  }

  form.addEventListener("input", (ev) => {
    const name = ev.target.name;
    if (Object.values(WINDOW).includes(name)) { touched.add(name); warn(); }
    if (name === "deposit" || name === "rounds") risk();
    if (["model_name", "key_bits", "n_parties", "local_iterations"].includes(name)) {
      clearTimeout(timer); timer = setTimeout(measure, 400);
    }
  });
  form.addEventListener("change", (ev) => {
    if (["model_name", "key_bits"].includes(ev.target.name)) { clearTimeout(timer); measure(); }
  });
  risk();
  measure();
})();
