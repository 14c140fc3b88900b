"use strict";
// Shows the date fields that go with the chosen period; the form works without this script too.
(function () {
  const period = document.getElementById("period");
  const form = document.getElementById("report-form");
  if (!period || !form) return;
  function sync() {
    const custom = period.value === "custom";
    form.querySelectorAll(".when-custom").forEach((el) => { el.hidden = !custom; });
    form.querySelectorAll(".when-calendar").forEach((el) => { el.hidden = custom; });
  }
  period.addEventListener("change", sync);
  sync();
})();
