// The inbox list: keyboard selection (j/k or arrows, Enter opens, / searches) and a polled list
// that keeps the agent's place. Served from our origin (CSP script-src 'self'); no inline code.
(function () {
  "use strict";

  var LIST = "inbox-list";
  var ROWS = "#" + LIST + " tbody tr[id^='conv-']";
  var selectedId = null; // the selected row's id ("conv-<conversation id>"), kept across refreshes
  var selectedIndex = -1; // its position, to land near it if the conversation left the list
  var saved = null; // scroll and focus just before a refresh replaces the list

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll(ROWS));
  }

  function linkOf(row) {
    return row ? row.querySelector("a.open") : null;
  }

  function isTyping(element) {
    if (!element || element === document.body) {
      return false;
    }
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }

  function select(row, focus) {
    rows().forEach(function (other) {
      other.classList.remove("is-selected");
    });
    if (!row) {
      selectedId = null;
      selectedIndex = -1;
      return;
    }
    row.classList.add("is-selected");
    selectedId = row.id;
    selectedIndex = rows().indexOf(row);
    if (focus) {
      var link = linkOf(row);
      if (link) {
        link.focus({ preventScroll: true });
      }
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var list = rows();
    if (!list.length) {
      return;
    }
    var at = list.findIndex(function (row) {
      return row.id === selectedId;
    });
    var next = at < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, at + step));
    select(list[next], true);
  }

  function inList(element) {
    var list = document.getElementById(LIST);
    return Boolean(list && element && list.contains(element));
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    var target = event.target;
    if (target && target.id === "inbox-q" && event.key === "Escape") {
      target.blur();
      return;
    }
    if (isTyping(target)) {
      return; // typing in the search box or a filter: the keys are the person's text
    }
    var arrows = inList(target) || selectedId !== null; // arrows still scroll the page otherwise
    if (event.key === "j" || (event.key === "ArrowDown" && arrows)) {
      event.preventDefault();
      move(1);
    } else if (event.key === "k" || (event.key === "ArrowUp" && arrows)) {
      event.preventDefault();
      move(-1);
    } else if (event.key === "/") {
      var search = document.getElementById("inbox-q");
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
    } else if (event.key === "Enter" && selectedId !== null) {
      var tag = target && target.tagName;
      if (tag === "A" || tag === "BUTTON" || tag === "SUMMARY") {
        return; // the focused control does what Enter means to it
      }
      var link = linkOf(document.getElementById(selectedId));
      if (link) {
        event.preventDefault();
        window.location.assign(link.href);
      }
    }
  });

  // Tabbing or clicking into a row moves the selection there, so j/k continue from it.
  document.addEventListener("focusin", function (event) {
    var row = event.target && event.target.closest ? event.target.closest(ROWS) : null;
    if (row && row.id !== selectedId) {
      select(row, false);
    }
  });

  // The poll: don't ask while the tab is hidden; keep scroll, selection and focus across a swap.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail && event.detail.elt && event.detail.elt.id === LIST && document.hidden) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== LIST) {
      return;
    }
    var active = document.activeElement;
    var focusedRow = active && active.closest ? active.closest(ROWS) : null;
    saved = { x: window.scrollX, y: window.scrollY, focusRow: focusedRow ? focusedRow.id : null };
  });

  // Rows keep their ids across refreshes, so htmx settles their attributes (class among them)
  // after the swap: restore right after the swap (no flicker) and again once settled.
  function restore(state) {
    if (selectedId !== null) {
      var list = rows();
      var row = document.getElementById(selectedId);
      if (!row && list.length) {
        row = list[Math.min(Math.max(selectedIndex, 0), list.length - 1)];
      }
      select(row, false);
      if (row && state.focusRow && !inList(document.activeElement)) {
        var link = linkOf(row);
        if (link) {
          link.focus({ preventScroll: true });
        }
      }
    }
    if (window.scrollX !== state.x || window.scrollY !== state.y) {
      window.scrollTo(state.x, state.y);
    }
  }

  document.addEventListener("htmx:afterSwap", function () {
    if (saved !== null) {
      restore(saved);
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (saved !== null) {
      var state = saved;
      saved = null;
      restore(state);
    }
  });
})();
