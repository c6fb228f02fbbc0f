// The portal's few enhancements. Every page works without them.
(function () {
  "use strict";

  // The ⋮ menus: one open at a time; a click elsewhere or Escape closes them.
  var menus = document.querySelectorAll("details.menu");
  function closeMenus(except) {
    menus.forEach(function (m) { if (m !== except) m.removeAttribute("open"); });
  }
  menus.forEach(function (m) {
    m.addEventListener("toggle", function () { if (m.open) closeMenus(m); });
  });
  document.addEventListener("click", function (e) {
    if (!e.target.closest("details.menu")) closeMenus(null);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") closeMenus(null);
  });

  // The status filter applies as soon as it changes.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.requestSubmit(); });
  });

  // Copy buttons: copy the field they name, and say so.
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    var field = document.getElementById(b.dataset.copy);
    var said = document.querySelector("[data-copied]");
    b.hidden = false;
    b.addEventListener("click", function () {
      field.select();
      var done = function () { if (said) said.textContent = "Copied to the clipboard."; b.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });

  // "Add another header" clones the last empty header row.
  var add = document.querySelector("button[data-add-header]");
  if (add) {
    add.hidden = false;
    add.addEventListener("click", function () {
      var rows = document.querySelectorAll("[data-header-row]");
      var last = rows[rows.length - 1];
      var row = last.cloneNode(true);
      var n = document.querySelectorAll(".header-row").length;
      row.querySelectorAll("input").forEach(function (input) {
        var id = input.id.replace(/-\d+$/, "-" + n);
        var label = row.querySelector('label[for="' + input.id + '"]');
        input.id = id;
        input.value = "";
        if (label) label.htmlFor = id;
      });
      last.after(row);
      row.querySelector("input").focus();
    });
  }
})();
