// Small enhancements on top of pages that already work without JavaScript.
(function () {
  "use strict";
  var HISTORY_CACHE = "htmx-history-cache";   // where htmx 2 keeps its page snapshots (sessionStorage)
  var NARROW = window.matchMedia("(max-width: 800px)");

  // Mark the page as scripted so .js-hide elements disappear only when JavaScript runs.
  document.documentElement.classList.add("js");

  // --- Copy buttons: <button data-copy="#element-id">Copy</button> copies that element's value or text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = "value" in source && source.value !== undefined ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // --- <details> menus: a click elsewhere closes them, Escape closes them and returns focus.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      if (menu.contains(document.activeElement) || document.activeElement === document.body) {
        menu.querySelector("summary").focus();
      }
    });
  });

  // --- The org navigation collapses on narrow screens and stays open on wide ones.
  function syncSidebar() {
    var menu = document.getElementById("sidebar_menu");
    if (menu) menu.open = !NARROW.matches;
  }
  NARROW.addEventListener("change", syncSidebar);

  // --- History safety: nothing of a session stays in htmx's history cache once signed out.
  function clearHistoryCache() {
    try { sessionStorage.removeItem(HISTORY_CACHE); } catch (e) { /* storage disabled: nothing cached */ }
  }
  document.addEventListener("submit", function (event) {
    if (event.target.matches("form[data-clears-history]")) clearHistoryCache();
  });

  // --- Errors take focus: after a failed submit, the first invalid field (GOV.UK "Error summary").
  function focusFirstError(root) {
    // The first invalid field or form-level error summary of the page, in document order.
    var invalid = (root || document).querySelector("main [aria-invalid=true], main .form-error-summary");
    if (invalid && invalid.focus) {
      invalid.focus();
      return true;
    }
    return false;
  }

  // Search and filter forms (data-sync-with-url) show what the URL asks for after Back or Forward:
  // htmx restores a snapshot in which the inputs hold whatever was typed when it was taken.
  function syncFiltersWithUrl() {
    var params = new URLSearchParams(window.location.search);
    document.querySelectorAll("form[data-sync-with-url]").forEach(function (form) {
      Array.prototype.forEach.call(form.elements, function (control) {
        if (!control.name || control.type === "hidden" || control.type === "submit") return;
        var value = params.get(control.name) || "";
        if (control.type === "checkbox" || control.type === "radio") control.checked = params.getAll(control.name).indexOf(control.value) !== -1;
        else control.value = value;
      });
    });
  }

  function onPageReady() {
    syncSidebar();
    if (document.querySelector("[data-signed-out]")) clearHistoryCache();
    focusFirstError();
  }
  document.addEventListener("DOMContentLoaded", onPageReady);

  // --- Toasts: a server response says HX-Trigger: {"toast": {"message": "..."}} (htmx.py toast()).
  function showToast(message) {
    var region = document.getElementById("toasts");
    if (!region || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast";
    var text = document.createElement("p");
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "small";
    close.textContent = "Dismiss";
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(text);
    toast.appendChild(close);
    region.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 8000);
  }
  document.addEventListener("toast", function (event) {
    showToast(event.detail && (event.detail.message || event.detail.value));
  });

  // --- The confirmation dialog, for every hx-confirm (htmx "htmx:confirm" event), not confirm().
  function askToConfirm(asker, question, title, label) {
    var dialog = document.getElementById("confirm_dialog");
    return new Promise(function (resolve) {
      if (!dialog || !dialog.showModal) { resolve(window.confirm(question)); return; }
      var returnTo = document.activeElement;
      document.getElementById("confirm_dialog_title").textContent = title || "Are you sure?";
      document.getElementById("confirm_dialog_text").textContent = question;
      document.getElementById("confirm_dialog_confirm").textContent = label || "Continue";
      dialog.returnValue = "";
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        if (returnTo && returnTo.isConnected && returnTo.focus) returnTo.focus();
        resolve(dialog.returnValue === "confirm");
      });
      dialog.showModal();
    });
  }

  // Role changes that grant or remove ownership ask first, and say what it means (members/_row.html).
  function ownershipQuestion(form) {
    var select = form.querySelector("select[name=role]");
    if (!select || !form.hasAttribute("data-current-role")) return null;
    var before = form.getAttribute("data-current-role"), after = select.value;
    if (before === after || (before !== "owner" && after !== "owner")) return null;
    return {
      question: after === "owner" ? form.getAttribute("data-grant-owner") : form.getAttribute("data-remove-owner"),
      title: after === "owner" ? "Make owner?" : "Remove ownership?",
      label: after === "owner" ? "Make owner" : "Remove ownership",
    };
  }

  document.addEventListener("htmx:confirm", function (event) {
    var asker = event.detail.elt;
    var owner = asker.matches && asker.matches("form") ? ownershipQuestion(asker) : null;
    if (!event.detail.question && !owner) return;
    event.preventDefault();
    var question = owner ? owner.question : event.detail.question;
    var holder = asker.closest("[data-confirm-title]") || asker;
    askToConfirm(asker, question,
                 owner ? owner.title : holder.getAttribute("data-confirm-title"),
                 owner ? owner.label : holder.getAttribute("data-confirm-label")).then(function (confirmed) {
      if (!confirmed) return;
      var flag = asker.querySelector && asker.querySelector("input[name=confirmed]");
      if (flag) flag.value = "yes";
      event.detail.issueRequest(true);
    });
  });

  // --- Errors of htmx requests: a boosted navigation that gets 403/404/500 shows that error page
  // (as a full navigation would); a region request says what went wrong in a toast.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && event.detail.boosted && xhr.status !== 422 && xhr.status !== 429) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.boosted) return;
    var status = event.detail.xhr.status;
    showToast(status === 403 ? "You can't do that here." : status === 404 ? "That no longer exists. Reload the page."
      : "Something went wrong (" + status + "). Reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showToast("Orgkit could not be reached. Check your connection and try again.");
  });

  // --- Polling widgets (data-poll) do not ask while the tab is hidden, and catch up when it shows.
  var pausedPolls = [];
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (document.hidden && elt.hasAttribute && elt.hasAttribute("data-poll")) {
      event.preventDefault();
      if (pausedPolls.indexOf(elt) === -1) pausedPolls.push(elt);
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) return;
    var waiting = pausedPolls;
    pausedPolls = [];
    waiting.forEach(function (elt) { if (elt.isConnected) window.htmx.trigger(elt, "poll-resume"); });
  });

  // --- After every swap: the same page-ready work, on the new content.
  document.addEventListener("htmx:afterSettle", function (event) {
    syncSidebar();
    if (document.querySelector("[data-signed-out]")) clearHistoryCache();
    focusFirstError(event.detail.elt);
  });
  document.addEventListener("htmx:historyRestore", function () {
    syncSidebar();
    syncFiltersWithUrl();
  });
})();
