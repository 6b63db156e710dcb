// The explorer: re-renders the face as the controls change. One request in flight at a time; the
// latest settings win. Networks above the preview resolution get a quick low-resolution preview
// while a control is being dragged, then the full image.
(() => {
  "use strict";
  const form = document.getElementById("explore-form");
  if (!form) return;
  const image = document.getElementById("explore-image");
  const status = document.getElementById("explore-status");
  const download = document.getElementById("explore-download");
  const permalink = document.getElementById("explore-permalink");
  const outputs = [...form.querySelectorAll("output[for]")];  // the sliders' values
  const MOVES = ["translate_x", "translate_y", "rotate"];     // StyleGAN3 only (the fieldset is there)
  const usePreview = form.dataset.preview === "true";
  let inFlight = false;
  let wanted = null;       // {query, preview} still to render
  let shown = null;        // query string of the image on screen
  let objectUrl = null;
  let timer = 0;

  function query() {
    const p = new URLSearchParams();
    const value = (name) => {
      const el = form.elements.namedItem(name);
      if (!el) return "";
      if (el instanceof RadioNodeList) return el.value;
      return el.closest("fieldset:disabled") ? "" : el.value;
    };
    p.set("seed", value("seed") || "0");
    p.set("psi", Number(value("psi")).toString());
    if (value("cutoff")) p.set("cutoff", value("cutoff"));
    const mixSeed = value("mix_seed");
    const mixGroup = form.querySelector("input[name=mix_group]:checked:not(:disabled)");
    if (mixSeed !== "" && mixGroup && mixGroup.value && !mixGroup.closest("fieldset:disabled")) {
      p.set("mix_seed", mixSeed);
      p.set("mix_group", mixGroup.value);
    }
    const noise = value("noise");
    if (noise && noise !== "const") p.set("noise", noise);
    if (value("class")) p.set("class", value("class"));
    MOVES.forEach((name) => { if (Number(value(name))) p.set(name, Number(value(name)).toString()); });
    return p.toString();
  }

  function showError(message) {
    let box = form.parentElement.querySelector(".error");
    if (!box) {
      box = document.createElement("p");
      box.className = "error";
      box.setAttribute("role", "alert");
      image.before(box);
    }
    box.textContent = message;
    box.hidden = !message;
  }

  async function render(q, preview) {
    inFlight = true;
    image.classList.add("busy");
    const started = performance.now();
    try {
      const response = await fetch("/api/render.png?" + q + (preview ? "&preview=true" : ""),
                                   { credentials: "same-origin" });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : data.detail;
        showError(detail || response.statusText);
      } else {
        const blob = await response.blob();
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        objectUrl = URL.createObjectURL(blob);
        image.src = objectUrl;
        image.hidden = false;
        showError("");
        const ms = Math.round(performance.now() - started);
        const server = response.headers.get("X-Render-Ms");
        const cached = server !== null && Number(server) === 0;
        const params = new URLSearchParams(q);
        const moved = MOVES.filter((name) => params.has(name)).map((name) => name + " " + params.get(name));
        status.textContent = (preview ? "Preview" : "Rendered") + " in " + ms + " ms" + (cached ? " (cached)" : "")
          + "; seed " + params.get("seed") + ", \u03c8 " + params.get("psi") + moved.map((m) => ", " + m).join("");
        if (!preview) shown = q;
        download.href = "/api/render.png?" + q + "&download=true";
        permalink.href = "/explore?" + q;
        history.replaceState(null, "", "/explore?" + q);
      }
    } catch (error) {
      showError("Could not render: " + error.message);
    } finally {
      inFlight = false;
      image.classList.remove("busy");
      pump();
    }
  }

  function pump() {
    if (inFlight || !wanted) return;
    const { q, preview } = wanted;
    wanted = null;
    if (!preview && q === shown) return;
    render(q, preview);
  }

  function schedule(preview, delay) {
    outputs.forEach((out) => {
      const input = form.elements.namedItem(out.getAttribute("for"));
      out.textContent = Number(input.value).toFixed(Number(out.dataset.digits || 2));
    });
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      wanted = { q: query(), preview: preview && usePreview };
      pump();
    }, delay);
  }

  form.addEventListener("input", (event) => schedule(event.target.type === "range", 30));
  form.addEventListener("change", () => schedule(false, 0));
  form.addEventListener("submit", (event) => { event.preventDefault(); schedule(false, 0); });
  form.querySelectorAll("[data-step]").forEach((button) => button.addEventListener("click", () => {
    const seed = form.elements.namedItem("seed");
    seed.value = Math.min(4294967295, Math.max(0, (Number(seed.value) || 0) + Number(button.dataset.step)));
    schedule(false, 0);
  }));
  document.getElementById("random-seed").addEventListener("click", () => {
    form.elements.namedItem("seed").value = Math.floor(Math.random() * 4294967296);
    schedule(false, 0);
  });
  const reset = document.getElementById("reset-transform");
  if (reset) reset.addEventListener("click", () => {
    MOVES.forEach((name) => { form.elements.namedItem(name).value = "0"; });
    schedule(false, 0);
  });
  shown = image.getAttribute("src") ? query() : null;
})();
