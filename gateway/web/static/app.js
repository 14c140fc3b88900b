"use strict";
// Shared by every page. The CSP forbids inline handlers, so pictures that fail to load are swapped
// for the placeholder here.
(function () {
  function fallback(img) {
    const alt = img.getAttribute("data-fallback");
    if (!alt || img.getAttribute("src") === alt) return;
    img.classList.add("no-picture");
    img.setAttribute("src", alt);
  }
  function watch(img) {
    img.addEventListener("error", () => fallback(img));
    // The error may have fired before this script ran (it is deferred).
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) fallback(img);
  }
  document.querySelectorAll("img[data-fallback]").forEach(watch);
})();
