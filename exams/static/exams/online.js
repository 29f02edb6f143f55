/* The online paper (exams/templates/exams/online/paper.html), on top of a page that works
   without it:
   - each answer is sent to the server as it is given (PUT /api/v1/attempts/{id}/answers/),
     the state shown in a live region (保存中 / 已保存 / 保存失败，重试中); a failed save is
     retried with a growing pause until it goes through, the latest answer of each question
     winning; on reload the page comes back from the server with what was saved;
   - the time left is counted down from the server's seconds_left, re-synced from every save's
     answer; at zero the server is asked (GET the attempt: it submits an overdue one) and the
     page reloads to show the submitted state;
   - one question a page (with 上一题 / 下一题 and the numbers above) or all on one page: the
     toggle, remembered on this device; moving to a question puts the focus on its legend.
   No inline script or style: the Content-Security-Policy allows neither. */
(function () {
  "use strict";

  var paper = document.getElementById("paper");
  if (!paper) return;
  var form = document.getElementById("paper-form");
  var statusBox = document.getElementById("save-status");
  var alertBox = document.getElementById("time-alert");
  var clock = document.getElementById("time-left");
  var answeredCount = document.getElementById("answered-count");
  var answersUrl = paper.getAttribute("data-answers-url");
  var apiUrl = paper.getAttribute("data-api-url");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var questions = Array.prototype.slice.call(form.querySelectorAll("fieldset.question"));
  var navLinks = Array.prototype.slice.call(document.querySelectorAll(".qnav a[data-position]"));
  var VIEW_KEY = "online-exam-view";

  var T = {
    saving: "正在保存…",
    saved: "已保存",
    savedAt: "已保存（%s）",
    retrying: "保存失败，重试中…",
    offline: "网络已断开，恢复后自动保存",
    refused: "未保存：%s",
    login: "登录已失效，答案未保存。请在新窗口重新登录后回到本页。",
    timeUp: "答题时间到，正在交卷…",
    fiveMinutes: "还剩 5 分钟。",
    oneMinute: "还剩 1 分钟。",
    of: "第 %1 题，共 %2 题",
    answered: "（已作答）",
    unanswered: "（未作答）"
  };

  function fmt(text, a, b) {
    return text.replace("%s", a).replace("%1", a).replace("%2", b);
  }

  // --- the clock ------------------------------------------------------------------------------

  var endsAt = Date.now() + parseInt(paper.getAttribute("data-seconds-left"), 10) * 1000;
  var warned = {};
  var finishing = false;

  function sync(secondsLeft) {
    if (typeof secondsLeft === "number" && !isNaN(secondsLeft)) {
      endsAt = Date.now() + secondsLeft * 1000;
    }
  }

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function tick() {
    var left = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
    var h = Math.floor(left / 3600);
    var m = Math.floor((left % 3600) / 60);
    var s = left % 60;
    clock.textContent = h ? h + ":" + two(m) + ":" + two(s) : two(m) + ":" + two(s);
    clock.parentNode.classList.toggle("low", left <= 300);
    if (left <= 300 && left > 60 && !warned.five) {
      warned.five = true;
      alertBox.textContent = T.fiveMinutes;
    }
    if (left <= 60 && left > 0 && !warned.one) {
      warned.one = true;
      alertBox.textContent = T.oneMinute;
    }
    if (left === 0) finish();
  }

  // The server decides: it submits an attempt past its deadline when it is read.
  function finish() {
    if (finishing) return;
    finishing = true;
    setStatus(T.timeUp, "");
    // The answers under way first, but not for long: the server's word is what counts.
    var asked = false;
    var once = function () {
      if (!asked) {
        asked = true;
        askServer();
      }
    };
    flush().then(once, once);
    window.setTimeout(once, 5000);
  }

  function askServer() {
    fetch(apiUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        return r.json();
      })
      .then(function (body) {
        if (body.state === "submitted") {
          window.location.reload();
          return;
        }
        finishing = false; // the device's clock ran ahead: the server's time wins
        sync(body.seconds_left);
      })
      .catch(function () {
        window.setTimeout(askServer, 3000);
      });
  }

  // --- saving ---------------------------------------------------------------------------------

  var pending = {}; // position -> letters not yet saved
  var inflight = null;
  var delay = 1000;
  var retryTimer = null;
  var flushWaiters = [];

  function setStatus(text, kind) {
    statusBox.textContent = text;
    statusBox.className = "save-status small" + (kind ? " " + kind : "");
  }

  function questionStatus(position, text, kind) {
    var box = form.querySelector('[data-status-for="' + position + '"]');
    if (box) {
      box.textContent = text;
      box.className = "q-status small" + (kind ? " " + kind : "");
    }
  }

  function lettersOf(fieldset) {
    var out = [];
    Array.prototype.forEach.call(fieldset.querySelectorAll("input:checked"), function (input) {
      out.push(input.value);
    });
    return out.sort().join("");
  }

  function markAnswered() {
    var count = 0;
    questions.forEach(function (fieldset, i) {
      var done = lettersOf(fieldset) !== "";
      if (done) count += 1;
      var link = navLinks[i];
      if (link) {
        link.classList.toggle("answered", done);
        link.querySelector(".visually-hidden").textContent = done ? T.answered : T.unanswered;
      }
    });
    answeredCount.textContent = String(count);
  }

  function hasPending() {
    return Object.keys(pending).length > 0 || inflight !== null;
  }

  function settle(ok) {
    if (hasPending()) return;
    var waiters = flushWaiters;
    flushWaiters = [];
    waiters.forEach(function (w) {
      (ok ? w.resolve : w.reject)();
    });
  }

  function flush() {
    return new Promise(function (resolve, reject) {
      flushWaiters.push({ resolve: resolve, reject: reject });
      send();
      settle(true);
    });
  }

  function send() {
    if (inflight !== null || Object.keys(pending).length === 0) return;
    if (retryTimer !== null) {
      window.clearTimeout(retryTimer);
      retryTimer = null;
    }
    var batch = pending;
    pending = {};
    inflight = batch;
    setStatus(T.saving, "");
    fetch(answersUrl, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ answers: batch })
    })
      .then(function (r) {
        return r
          .json()
          .catch(function () {
            return {};
          })
          .then(function (body) {
            return { status: r.status, body: body };
          });
      })
      .then(function (res) {
        inflight = null;
        if (res.status === 200) {
          delay = 1000;
          sync(res.body.seconds_left);
          var time = new Date().toTimeString().slice(0, 8);
          Object.keys(batch).forEach(function (p) {
            if (!(p in pending)) questionStatus(p, T.saved, "saved");
          });
          setStatus(fmt(T.savedAt, time), "saved");
          send();
          settle(true);
        } else if (res.status === 409) {
          // Submitted (by the candidate elsewhere, or by the server's clock): show it.
          window.location.reload();
        } else if (res.status === 400) {
          var detail = (res.body && res.body.detail) || "";
          Object.keys(batch).forEach(function (p) {
            questionStatus(p, fmt(T.refused, detail), "failed");
          });
          setStatus(fmt(T.refused, detail), "failed");
          send();
          settle(false);
        } else if (res.status === 401 || res.status === 403) {
          requeue(batch);
          setStatus(T.login, "failed");
          settle(false);
        } else {
          throw new Error(String(res.status));
        }
      })
      .catch(function () {
        inflight = null;
        requeue(batch);
        setStatus(navigator.onLine === false ? T.offline : T.retrying, "failed");
        Object.keys(batch).forEach(function (p) {
          questionStatus(p, T.retrying, "failed");
        });
        retryTimer = window.setTimeout(function () {
          retryTimer = null;
          send();
        }, delay);
        delay = Math.min(delay * 2, 15000);
      });
  }

  // A failed batch goes back, unless the question was answered again meanwhile (newer wins).
  function requeue(batch) {
    Object.keys(batch).forEach(function (p) {
      if (!(p in pending)) pending[p] = batch[p];
    });
  }

  form.addEventListener("change", function (event) {
    var fieldset = event.target.closest("fieldset.question");
    if (!fieldset) return;
    var position = fieldset.getAttribute("data-position");
    pending[position] = lettersOf(fieldset);
    questionStatus(position, T.saving, "");
    markAnswered();
    send();
  });

  window.addEventListener("online", function () {
    delay = 1000;
    send();
  });

  window.addEventListener("beforeunload", function (event) {
    if (hasPending() && !finishing) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // --- one question a page, or all ------------------------------------------------------------

  var toggle = document.getElementById("view-toggle");
  var oneButton = document.getElementById("view-one");
  var allButton = document.getElementById("view-all");
  var pager = document.getElementById("pager");
  var prev = document.getElementById("prev-question");
  var next = document.getElementById("next-question");
  var pagerPosition = document.getElementById("pager-position");
  var current = 0;
  var single = true;
  try {
    single = window.localStorage.getItem(VIEW_KEY) !== "all";
  } catch (e) {
    single = true;
  }

  function show(index, focus) {
    current = Math.max(0, Math.min(questions.length - 1, index));
    questions.forEach(function (fieldset, i) {
      fieldset.hidden = single && i !== current;
    });
    navLinks.forEach(function (link, i) {
      if (i === current && single) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    });
    pager.hidden = !single;
    prev.disabled = current === 0;
    next.disabled = current === questions.length - 1;
    pagerPosition.textContent = fmt(T.of, current + 1, questions.length);
    if (focus) {
      var legend = questions[current].querySelector("legend");
      legend.focus();
      if (!single) questions[current].scrollIntoView({ block: "start" });
    }
  }

  function setView(isSingle) {
    single = isSingle;
    oneButton.setAttribute("aria-pressed", String(single));
    allButton.setAttribute("aria-pressed", String(!single));
    try {
      window.localStorage.setItem(VIEW_KEY, single ? "one" : "all");
    } catch (e) {
      /* private mode: not remembered */
    }
    show(current, false);
  }

  function indexOfHash() {
    var match = /^#q-(\d+)$/.exec(window.location.hash);
    if (!match) return -1;
    for (var i = 0; i < questions.length; i += 1) {
      if (questions[i].getAttribute("data-position") === match[1]) return i;
    }
    return -1;
  }

  oneButton.addEventListener("click", function () {
    setView(true);
  });
  allButton.addEventListener("click", function () {
    setView(false);
  });
  prev.addEventListener("click", function () {
    show(current - 1, true);
  });
  next.addEventListener("click", function () {
    show(current + 1, true);
  });
  navLinks.forEach(function (link, i) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      show(i, true);
    });
  });

  // 保存答案 / 交卷 post the whole form (the no-script path, the same service): it carries
  // every answer as the page shows it, so a save still under way changes nothing.
  form.addEventListener("submit", function () {
    finishing = true; // leaving on purpose: no "unsaved" prompt
  });

  toggle.hidden = false;
  var start = indexOfHash();
  setView(single);
  show(start >= 0 ? start : 0, start >= 0);
  markAnswered();
  tick();
  window.setInterval(tick, 1000);
})();
