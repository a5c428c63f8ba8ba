/* limpyd-jobs dashboard: local times, confirmations, counts refreshed live. No dependency. */
(function () {
  "use strict";

  function pad(number) {
    return (number < 10 ? "0" : "") + number;
  }

  /* Each <time datetime="UTC ISO"> shown in the viewer's time zone. */
  function localTimes() {
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
      zone = "";
    }
    document.querySelectorAll("time[datetime]").forEach(function (element) {
      var moment = new Date(element.getAttribute("datetime"));
      if (isNaN(moment.getTime())) {
        return;
      }
      element.title = element.getAttribute("datetime");
      element.textContent = moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" +
        pad(moment.getDate()) + " " + pad(moment.getHours()) + ":" + pad(moment.getMinutes()) + ":" +
        pad(moment.getSeconds());
    });
    var label = document.getElementById("timezone");
    if (label) {
      label.textContent = "times in " + (zone || "local time");
    }
  }

  /* Forms with data-confirm: ask, and tell the server it was asked (confirm=yes). */
  function confirmations() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var question = form.getAttribute("data-confirm");
      if (!question) {
        return;
      }
      if (!window.confirm(question)) {
        event.preventDefault();
        return;
      }
      var field = form.querySelector("input[name=confirm]");
      if (field) {
        field.value = "yes";
      }
    });
  }

  function setText(element, value) {
    var text = String(value);
    if (element.textContent !== text) {
      element.textContent = text;
    }
  }

  function update(data) {
    var byName = {};
    data.queues.forEach(function (queue) {
      byName[queue.name] = queue;
    });
    document.querySelectorAll("[data-count]").forEach(function (element) {
      var queue = byName[element.getAttribute("data-queue")];
      var state = element.getAttribute("data-count");
      if (queue && Object.prototype.hasOwnProperty.call(queue, state)) {
        setText(element, queue[state]);
        element.classList.toggle("zero", queue[state] === 0);
      }
    });
    document.querySelectorAll("[data-paused]").forEach(function (element) {
      var queue = byName[element.getAttribute("data-queue")];
      if (queue) {
        element.hidden = !queue.paused;
      }
    });
    if (data.totals) {
      document.querySelectorAll("[data-total]").forEach(function (element) {
        setText(element, data.totals[element.getAttribute("data-total")]);
      });
    }
    if (typeof data.workers_alive === "number") {
      document.querySelectorAll("[data-workers-alive]").forEach(function (element) {
        setText(element, data.workers_alive);
      });
    }
    if (data.throughput) {
      document.querySelectorAll("[data-throughput]").forEach(function (element) {
        element.setAttribute("points", data.throughput.points);
      });
      document.querySelectorAll("[data-throughput-total]").forEach(function (element) {
        setText(element, data.throughput.total);
      });
    }
  }

  /* Every data-refresh milliseconds, the counts of the page from data-counts-url. */
  function liveCounts() {
    var url = document.body.getAttribute("data-counts-url");
    var every = Number(document.body.getAttribute("data-refresh")) || 5000;
    var stale = document.getElementById("stale");
    var refreshed = document.getElementById("refreshed");
    if (!url) {
      return;
    }
    function tick() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) {
          return response.json().catch(function () {
            return {error: "HTTP " + response.status};
          }).then(function (data) {
            if (!response.ok) {
              throw new Error(data.error || ("HTTP " + response.status));
            }
            return data;
          });
        })
        .then(function (data) {
          update(data);
          stale.hidden = true;
          var now = new Date();
          refreshed.textContent = "counts updated " + pad(now.getHours()) + ":" + pad(now.getMinutes()) +
            ":" + pad(now.getSeconds());
        })
        .catch(function (error) {
          stale.textContent = "Counts not refreshed: " + error.message;
          stale.hidden = false;
        })
        .then(function () {
          window.setTimeout(tick, every);
        });
    }
    window.setTimeout(tick, every);
  }

  function start() {
    localTimes();
    confirmations();
    liveCounts();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
