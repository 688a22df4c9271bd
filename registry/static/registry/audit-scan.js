/* The audit scan page, made better where the browser allows; the page works without it (each
   scan is then a plain form post).

   - The tag field keeps the focus: a hardware scanner types the tag and Enter, scan after scan.
   - Each scan is POSTed with fetch (the form's CSRF token rides along) and the four lists and
     counts are replaced by the server's; scans typed while one is on its way wait their turn.
   - Where the browser offers BarcodeDetector, a camera button reads labels (QR codes hold the
     asset's address, whose last part is the tag). */
(function () {
  "use strict";
  var form = document.getElementById("scan-form");
  if (!form || !window.fetch || !window.FormData) return;
  var input = document.getElementById("tag");
  var said = document.getElementById("said");
  var lists = document.getElementById("audit-lists");
  var queue = [];
  var busy = false;

  function isControl(el) {
    return el && el !== document.body && /^(INPUT|BUTTON|SELECT|TEXTAREA|SUMMARY|A|LABEL)$/.test(el.tagName);
  }
  input.addEventListener("blur", function () {
    window.setTimeout(function () {
      if (!isControl(document.activeElement)) input.focus();
    }, 0);
  });

  function tell(text, kind) {
    said.textContent = text;
    said.className = "said " + (kind || "");
  }

  function counts(values) {
    Object.keys(values).forEach(function (name) {
      document.querySelectorAll('[data-count="' + name + '"]').forEach(function (el) {
        el.textContent = values[name];
      });
    });
  }

  function next() {
    if (!queue.length) { busy = false; return; }
    busy = true;
    var tag = queue.shift();
    var data = new FormData(form);
    data.set("tag", tag);
    fetch(window.location.pathname, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: {
        "X-Requested-With": "fetch",
        "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
        "Accept": "application/json"
      }
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (answer.ok) {
        lists.innerHTML = answer.body.lists;
        counts(answer.body.counts);
        var kind = (answer.body.message.split(": ")[1] || "").split(/[ ,]/)[0];
        tell(answer.body.message, kind);
        if (navigator.vibrate) navigator.vibrate(60);
      } else {
        tell((answer.body.problems || ["Not recorded."]).join(" "), "error");
      }
      next();
    }).catch(function () {
      // No answer (offline, a proxy): send this one as a plain form post; the page reloads.
      input.value = tag;
      HTMLFormElement.prototype.submit.call(form);
    });
  }

  function send(tag) {
    if (!tag.trim()) return;
    queue.push(tag);
    if (!busy) next();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var tag = input.value;
    input.value = "";
    input.focus();
    send(tag);
  });

  // --- the camera, where the browser can read barcodes itself
  var button = document.getElementById("camera");
  var video = document.getElementById("viewfinder");
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !button) return;
  button.hidden = false;
  var stream = null;
  var last = { text: "", at: 0 };

  function tagOf(text) {
    var match = /\/a\/([^/?#]+)\/?(?:[?#].*)?$/.exec(text);
    return match ? decodeURIComponent(match[1]) : text;
  }

  function stop() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.hidden = true;
    button.textContent = "Scan with the camera";
    input.focus();
  }

  button.addEventListener("click", function () {
    if (stream) { stop(); return; }
    var detector;
    window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      detector = new window.BarcodeDetector({ formats: formats });
      return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    }).then(function (media) {
      stream = media;
      video.srcObject = media;
      video.hidden = false;
      button.textContent = "Stop the camera";
      return video.play();
    }).then(function look() {
      if (!stream) return;
      detector.detect(video).then(function (codes) {
        var now = Date.now();
        codes.forEach(function (code) {
          var tag = tagOf(code.rawValue);
          if (tag !== last.text || now - last.at > 3000) send(tag);  // one read per label
          last = { text: tag, at: now };
        });
      }).catch(function () {}).then(function () { window.setTimeout(look, 250); });
    }).catch(function (problem) {
      stop();
      tell("The camera could not be used: " + (problem && problem.message ? problem.message : problem), "error");
    });
  });
}());
