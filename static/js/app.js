// Small enhancements on top of pages that already work without JavaScript.
// Copy buttons: <button data-copy="#element-id">Copy</button> copies that element's value or text.
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
// Close an open <details> menu when clicking elsewhere.
document.addEventListener("click", function (event) {
  document.querySelectorAll("details.menu[open]").forEach(function (menu) {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});
// Mark the page as scripted so .js-hide elements (e.g. "Save" next to a select that htmx submits on
// change) disappear only when JavaScript runs; without it they stay and the plain form works.
document.documentElement.classList.add("js");
