// Loads rtcgate's ES modules (rtcgate.js, mqtt.js) from the gateway's broker. mosquitto's
// http_dir sends no Content-Type, and browsers refuse module scripts without a JavaScript type,
// so this classic script (which browsers accept) fetches the modules and imports them from blob
// URLs of the right type. Usage, in a page served by the gateway:
//   <script src="load.js"></script>
//   <script>rtcgateImport().then(({ RtcgateClient }) => { ... });</script>
// A page served by a web server that sets types can `import { RtcgateClient } from "./rtcgate.js"`.
(function () {
  "use strict";
  /** Imports rtcgate.js (with its mqtt.js) from `base` (default: where load.js came from).
   * @param {string} [base] @returns {Promise<typeof import("./rtcgate.js")>} */
  function rtcgateImport(base) {
    const root = base || (document.currentScript && new URL(".", document.currentScript.src).href) || rtcgateImport.base || "/";
    const blob = (text) => URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
    const text = (name) => fetch(new URL(name, new URL(root, location.href))).then((r) => {
      if (!r.ok) throw new Error(`cannot load ${name}: HTTP ${r.status}`);
      return r.text();
    });
    return text("mqtt.js").then((mqtt) => text("rtcgate.js").then((source) =>
      import(blob(source.replace('"./mqtt.js"', JSON.stringify(blob(mqtt)))))));
  }
  rtcgateImport.base = document.currentScript && new URL(".", document.currentScript.src).href;
  window.rtcgateImport = rtcgateImport;
})();
