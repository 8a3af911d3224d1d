// minato console: confirm dialogs for actions, live updates of the page
// from the server's event stream, and the live tail of a log.
(function () {
  "use strict";

  // Every form with data-confirm asks first; {field} is the form's value.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    var msg = f.getAttribute && f.getAttribute("data-confirm");
    if (!msg) return;
    msg = msg.replace(/\{(\w+)\}/g, function (_, name) {
      var el = f.elements[name];
      return el ? el.value : "";
    });
    if (!window.confirm(msg)) e.preventDefault();
  }, true);

  var status = document.getElementById("live-status");
  function setStatus(text, cls) {
    if (!status) return;
    status.hidden = false;
    status.textContent = text;
    status.className = "live-status " + cls;
  }

  // Live pages: on a change, fetch the page again and swap its content,
  // unless the user is typing in it (then once they leave the field).
  var content = document.getElementById("content");
  if (content && content.getAttribute("data-live") && window.EventSource) {
    var pending = false, busy = false;
    var refresh = function () {
      var a = document.activeElement;
      if (a && content.contains(a) && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA")) {
        pending = true;
        return;
      }
      if (busy) { pending = true; return; }
      busy = true; pending = false;
      fetch(location.pathname + location.search.replace(/([?&])(done|error)=[^&]*/g, "$1"), {
        headers: { "X-Console-Partial": "1" }, credentials: "same-origin"
      }).then(function (r) {
        if (r.status === 401 || r.redirected) { location.reload(); return null; }
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html !== null && html !== undefined) {
          content.innerHTML = html;
          content.setAttribute("data-updated", String(Date.now()));
        }
      }).catch(function () {}).finally(function () {
        busy = false;
        if (pending) refresh();
      });
    };
    document.addEventListener("focusout", function () { if (pending) setTimeout(refresh, 0); });
    var es = new EventSource("/console/live");
    es.addEventListener("open", function () { setStatus("live", "good"); });
    es.addEventListener("error", function () { setStatus("reconnecting", "busy"); });
    es.addEventListener("change", refresh);
    window.addEventListener("pagehide", function () { es.close(); });
  }

  // The log page follows the container's log.
  var log = document.getElementById("log");
  if (log && log.getAttribute("data-tail") && window.EventSource) {
    var tailStatus = document.getElementById("tail-status");
    var ts = new EventSource(log.getAttribute("data-tail"));
    ts.addEventListener("open", function () { if (tailStatus) tailStatus.textContent = "following"; });
    ts.addEventListener("error", function () { if (tailStatus) tailStatus.textContent = "reconnecting"; });
    ts.addEventListener("logs", function (e) {
      var atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 20;
      JSON.parse(e.data).forEach(function (ev) {
        var line = document.createElement("span");
        line.className = "line";
        var t = document.createElement("time");
        t.textContent = ev.time;
        line.appendChild(t);
        line.appendChild(document.createTextNode(" " + ev.message));
        log.appendChild(line);
        log.appendChild(document.createTextNode("\n"));
      });
      if (atEnd) window.scrollTo(0, document.body.scrollHeight);
    });
    window.addEventListener("pagehide", function () { ts.close(); });
  }
})();
