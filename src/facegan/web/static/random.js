// /random: N (or the button) loads a new face.
(() => {
  "use strict";
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "n" || event.key === "N") {
      event.preventDefault();
      window.location.assign("/random");
    }
  });
})();
