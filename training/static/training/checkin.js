// The trainer's page of QR sign-in (training/templates/training/checkin/trainer.html): asks
// data-live every data-poll seconds (and when the code's 30 s are up) for the current QR
// code, code and count, and puts them in. Text only through textContent; the QR is an <img>
// whose src is the SVG data: URI the server made.
(function () {
  "use strict";
  var root = document.getElementById("checkin");
  if (!root) return;
  var live = root.getAttribute("data-live");
  var poll = (parseInt(root.getAttribute("data-poll"), 10) || 5) * 1000;
  var left = parseInt(root.getAttribute("data-seconds-left"), 10) || 30;
  var el = function (id) { return document.getElementById(id); };
  var timer = null;

  function show(state) {
    el("checkin-open").hidden = !state.open;
    el("checkin-closed").hidden = state.open;
    el("checkin-closed").textContent = state.reason;
    var img = el("checkin-qr");
    if (state.open && img.getAttribute("data-url") !== state.url) {
      img.setAttribute("src", state.qr);
      img.setAttribute("data-url", state.url);
    }
    el("checkin-code").textContent = state.code;
    el("checkin-day").textContent = state.day;
    el("checkin-signed").textContent = String(state.signed_in);
    el("checkin-enrolled").textContent = String(state.enrolled);
    var list = el("checkin-latest");
    while (list.firstChild) list.removeChild(list.firstChild);
    state.latest.forEach(function (name) {
      var li = document.createElement("li");
      li.textContent = name;
      list.appendChild(li);
    });
    left = state.seconds_left;
    el("checkin-seconds").textContent = String(left);
    el("checkin-stale").hidden = true;
  }

  function refresh() {
    clearTimeout(timer);
    fetch(live, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(show)
      .catch(function () { el("checkin-stale").hidden = false; })
      .then(function () { timer = setTimeout(refresh, poll); });
  }

  setInterval(function () {
    if (left > 0) {
      left -= 1;
      el("checkin-seconds").textContent = String(left);
      if (left === 0) refresh();
    }
  }, 1000);
  timer = setTimeout(refresh, poll);
})();
