"use strict";
// The words the pages' scripts show, in the page's language: base.html embeds the catalog's entries as
// JSON (English needs none, the messages are English). `_("... {name} ...", { name: x })` fills values in.
window.pageLanguage = document.documentElement.lang || "zh-CN";
window._ = (function () {
  let words = {};
  try {
    const el = document.getElementById("i18n");
    words = el ? JSON.parse(el.textContent || "{}") : {};
  } catch (e) { words = {}; }
  return function (message, values) {
    let text = Object.prototype.hasOwnProperty.call(words, message) ? words[message] : message;
    if (values) text = text.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
    return text;
  };
})();

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
