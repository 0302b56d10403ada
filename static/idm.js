// The Identity Management tab's status panel, kept current while jobs are queued: it asks
// for the status as JSON every 2 seconds and changes only the panel's text, never the page,
// so a form being edited keeps what was typed. Without this script the page still shows the
// status as of its loading.
(function () {
  "use strict";
  var panel = document.getElementById("idm-status");
  if (!panel || panel.getAttribute("data-watch") !== "1") return;
  var url = panel.getAttribute("data-status-url");
  function set(id, text) {
    var el = document.getElementById(id);
    if (el && el.textContent !== text) el.textContent = text;
  }
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) return;
        set("idm-state", s.state_text);
        document.getElementById("idm-state").setAttribute("data-state", s.state);
        set("idm-queue", s.queue_text);
        set("idm-last-sync", s.last_sync);
        set("idm-last-ok", s.last_ok);
        set("idm-failing", s.failing || "none");
        document.getElementById("idm-failing").className = s.failing ? "error" : "";
        set("idm-next-sync", s.next_sync);
        set("sync-done", String(s.progress_done));
        set("sync-max", String(s.progress_max));
        var bar = document.getElementById("sync-progress");
        if (bar) { bar.max = s.progress_max; bar.value = s.progress_done; }
        document.getElementById("idm-progress").hidden = s.queued === 0;
        if (s.queued > 0 && s.sending) setTimeout(tick, 2000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 2000);
})();
