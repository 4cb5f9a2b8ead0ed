// Polls must not pull the page from under the keyboard: while focus is
// inside a live region (a link in the table), its refresh waits.
document.addEventListener("htmx:beforeSwap", function (e) {
  var f = document.activeElement;
  if (f && f !== document.body && e.detail.target.contains(f)) e.detail.shouldSwap = false;
});
