// Polls the task API while a computation is queued or running, then reloads the page, which
// the server renders with the result. Works with the eager default too (already finished).
(function () {
  var box = document.getElementById("compute-progress");
  if (!box || box.dataset.finished === "true") return;
  var state = box.querySelector(".state");
  var detail = box.querySelector(".detail");
  var started = Date.now();
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (task) {
        if (task.status !== "pending" && task.status !== "running") {
          window.location.reload();
          return;
        }
        state.textContent = task.status === "pending" ? "Queued" : "Running";
        var seconds = Math.round((Date.now() - started) / 1000);
        var step = task.progress && (task.progress.step || task.progress.state);
        detail.textContent = (step ? step + " · " : "") + seconds + " s";
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
