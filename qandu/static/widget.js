/*! QanDu chat widget loader. Embed with:
 *  <script src="https://chat.example.com/static/widget.js" data-server="https://chat.example.com"
 *          data-bot="support" data-locale="en" data-color="#4f46e5" async></script>
 * It adds one element to the page and renders inside its Shadow DOM, so neither the host
 * page's styles nor the widget's leak across; the app modules load after the page. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.QanDuWidget) return;
  var data = script.dataset;
  var base = new URL(".", script.src).href;
  var config = {
    server: (data.server || new URL(script.src).origin).replace(/\/$/, ""),
    bot: data.bot || null,
    locale: data.locale || null,
    color: data.color || "#4f46e5",
    position: data.position === "left" ? "left" : "right",
    title: data.title || null,
    open: data.open === "true",
  };
  var api = (window.QanDuWidget = { config: config, ready: null });
  function boot() {
    var host = document.createElement("div");
    host.id = "qandu-widget";
    host.style.cssText = "position:fixed;z-index:2147483000;bottom:0;" + config.position + ":0;";
    document.body.appendChild(host);
    var root = host.attachShadow({ mode: "open" });
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = base + "widget/widget.css";
    root.appendChild(css);
    api.ready = import(base + "widget/app.js").then(function (module) {
      return new Promise(function (resolve) {
        var mount = function () { resolve(module.mount(root, config)); };
        css.sheet ? mount() : ((css.onload = mount), (css.onerror = mount));
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
