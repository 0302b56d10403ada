// Copy buttons: a button with data-copy="ID" puts the text of element ID on the clipboard
// and says so on the button for a moment. Without this script the values stay selectable.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (!el || !navigator.clipboard) return;
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        var was = b.textContent;
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = was; }, 1500);
      });
    });
  });
  // The preview result is where the admin's eyes should go.
  var result = document.getElementById("preview-result");
  if (result && location.hash === "#preview-result") result.focus();
})();
