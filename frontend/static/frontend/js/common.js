/* Shared page helpers (no inline scripts: CSP self-only).
 * - [data-copy-target=ID] buttons copy the text of #ID to the clipboard;
 * - <time datetime=ISO> elements show "12 s ago (2026-12-02 07:40:01 UTC)", kept fresh;
 * - forms with data-confirm ask before submitting. */
"use strict";

window.DeepChain = window.DeepChain || {};

(function (DC) {
  function pad(n) { return String(n).padStart(2, "0"); }

  DC.absTime = function (ms) {
    const d = new Date(ms);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
  };

  DC.relTime = function (ms, now) {
    const s = Math.round(((now || Date.now()) - ms) / 1000);
    const a = Math.abs(s);
    let text;
    if (a < 5) text = "just now";
    else if (a < 60) text = `${a} s`;
    else if (a < 3600) text = `${Math.floor(a / 60)} min`;
    else if (a < 86400) text = `${Math.floor(a / 3600)} h`;
    else text = `${Math.floor(a / 86400)} d`;
    if (text === "just now") return text;
    return s >= 0 ? `${text} ago` : `in ${text}`;
  };

  DC.both = function (ms) { return `${DC.relTime(ms)} (${DC.absTime(ms)})`; };

  DC.refreshTimes = function (root) {
    (root || document).querySelectorAll("time[datetime]").forEach((el) => {
      const ms = Date.parse(el.getAttribute("datetime"));
      if (!Number.isNaN(ms)) {
        el.textContent = DC.both(ms);
        el.title = new Date(ms).toISOString();
      }
    });
  };

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { area.remove(); }
    return Promise.resolve();
  }

  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("[data-copy-target]");
    if (!btn) return;
    const src = document.getElementById(btn.dataset.copyTarget);
    if (!src) return;
    copyText(src.textContent.trim()).then(() => {
      btn.textContent = "Copied";
      btn.classList.add("copied");
      setTimeout(() => { btn.textContent = "Copy"; btn.classList.remove("copied"); }, 2000);
    });
  });

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    DC.refreshTimes();
    setInterval(() => DC.refreshTimes(), 5000);
  });
})(window.DeepChain);
