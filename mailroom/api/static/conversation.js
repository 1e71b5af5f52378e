// The conversation page's keyboard shortcuts and presence state. No inline script anywhere
// (the CSP forbids it): this file is loaded with `defer` and works through event listeners.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function byId(id) { return document.getElementById(id); }

  // "replying" while the reply box has focus or holds a draft; "viewing" otherwise.
  function updatePresenceState() {
    var state = byId("presence-state");
    var text = byId("reply-text");
    if (!state) { return; }
    var replying = text && (document.activeElement === text || text.value.trim() !== "");
    state.value = replying ? "replying" : "viewing";
  }

  function fillTimezoneOffsets() {
    // datetime-local has no zone: the server adds the browser's offset (minutes east of UTC negative).
    var offset = String(new Date().getTimezoneOffset());
    document.querySelectorAll("input.tz-offset").forEach(function (input) { input.value = offset; });
  }

  function clickIfPresent(id) {
    var element = byId(id);
    if (element) { element.click(); return true; }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && typing(event.target)) {
      var form = event.target.form;
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var handled = true;
    switch (event.key) {
      case "r": if (byId("reply-text")) { byId("reply-text").focus(); } else { handled = false; } break;
      case "n": if (byId("note-text")) { byId("note-text").focus(); } else { handled = false; } break;
      case "a": handled = clickIfPresent("claim-button"); break;
      case "c": handled = clickIfPresent("close-button"); break;
      case "j": handled = clickIfPresent("next-conversation"); break;
      case "u": handled = clickIfPresent("back-to-inbox"); break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); }
  });

  document.addEventListener("focusin", updatePresenceState);
  document.addEventListener("focusout", function () { setTimeout(updatePresenceState, 0); });
  document.addEventListener("input", updatePresenceState);
  document.addEventListener("htmx:afterSwap", function () { updatePresenceState(); fillTimezoneOffsets(); });
  document.addEventListener("DOMContentLoaded", function () { updatePresenceState(); fillTimezoneOffsets(); });
})();
