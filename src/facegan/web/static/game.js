// Which Face Is Real: the game page. The server decides and checks everything; this script only
// shows the two faces it is given, sends the choice, and shows the verdict it gets back.
(() => {
  "use strict";
  const root = document.getElementById("game");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const faces = Array.from(root.querySelectorAll(".face"));
  const images = faces.map((face) => face.querySelector("img"));
  const sides = ["left", "right"];
  const status = $("status");
  const reveal = $("reveal");
  const next = $("next");
  const chips = Array.from(root.querySelectorAll(".chip"));
  let round = null;        // {round, images, expires_in}
  let phase = "loading";   // loading -> choosing -> answering -> revealed
  let objectUrls = [];
  const touch = window.matchMedia("(pointer: coarse)").matches;

  async function api(path, body) {
    const options = { method: body === undefined ? "GET" : "POST", credentials: "same-origin", cache: "no-store" };
    if (body !== undefined && body !== null) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(typeof data.detail === "string" ? data.detail : response.statusText);
      error.status = response.status;
      error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
      throw error;
    }
    return data;
  }

  async function fetchImage(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error("a face could not be loaded");
    return URL.createObjectURL(await response.blob());
  }

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = "status" + (kind ? " " + kind : "");
  }

  function showScore(score) {
    $("score-correct").textContent = score.correct;
    $("score-streak").textContent = score.streak;
    $("score-answered").textContent = score.answered;
    $("score-accuracy").textContent = score.accuracy === null ? "\u2013" : Math.round(score.accuracy * 100) + " %";
  }

  function retryLater(error) {
    const seconds = Math.max(1, error.retryAfter || 2);
    setStatus(error.message + " (retrying in " + seconds + " s)", "wrong");
    window.setTimeout(newRound, seconds * 1000);
  }

  async function newRound() {
    phase = "loading";
    reveal.hidden = true;
    faces.forEach((face, i) => {
      face.disabled = true;
      face.classList.remove("real", "fake", "picked");
      face.setAttribute("aria-label", "The " + sides[i] + " face is real (key " + (i + 1) + ")");
    });
    setStatus("Loading a pair of faces\u2026");
    try {
      round = await api("/api/rounds", null);
      // Both faces are fetched first and shown together.
      const urls = await Promise.all(round.images.map(fetchImage));
      objectUrls.forEach((url) => URL.revokeObjectURL(url));
      objectUrls = urls;
      await Promise.all(images.map((img, i) => {
        img.src = urls[i];
        return img.decode ? img.decode().catch(() => undefined) : undefined;
      }));
    } catch (error) {
      if (error.status === 429 || error.status === 503) return retryLater(error);
      setStatus("Could not start a round: " + error.message, "wrong");
      reveal.hidden = false;
      phase = "revealed";
      return;
    }
    faces.forEach((face) => { face.disabled = false; });
    phase = "choosing";
    setStatus(round.reals_exhausted
      ? "Which one is real? (You have now seen every real photo once.)"
      : touch ? "Which one is real? Tap it." : "Which one is real? Click it, or press 1 or 2.");
    if (root.dataset.keyboard === "1") faces[0].focus();
  }

  async function choose(choice) {
    if (phase !== "choosing") return;
    phase = "answering";
    faces.forEach((face) => { face.disabled = true; });
    let result;
    try {
      result = await api("/api/answer", { round: round.round, choice: choice });
    } catch (error) {
      setStatus(error.message, "wrong");
      reveal.hidden = false;
      $("explanation").textContent = "Start a new round to go on.";
      phase = "revealed";
      next.focus();
      return;
    }
    faces[result.real].classList.add("real");
    faces[1 - result.real].classList.add("fake");
    faces[choice].classList.add("picked");
    faces[result.real].setAttribute("aria-label", "The " + sides[result.real] + " face: a real photo");
    faces[1 - result.real].setAttribute("aria-label", "The " + sides[1 - result.real] + " face: generated");
    setStatus(result.correct ? "Correct!" : "Fooled!", result.correct ? "correct" : "wrong");
    $("explanation").textContent = result.explanation;
    showMachine(result.machine);
    $("explore-fake").href = "/explore?seed=" + result.fake.seed + "&psi=" + result.fake.psi;
    chips.forEach((chip) => { chip.disabled = false; chip.setAttribute("aria-pressed", "false"); });
    showScore(result.score);
    reveal.hidden = false;
    phase = "revealed";
    next.focus();
  }

  // The detector's guess on the same pair (facegan serve --detector), shown after the player's.
  function showMachine(machine) {
    const line = $("machine");
    line.hidden = !machine;
    if (!machine) return;
    const pct = Math.round(machine.confidence * 100);
    line.textContent = "The machine picked the " + sides[machine.choice] + " face as real, " + pct
      + " % sure: " + (machine.correct ? "right." : "fooled too.");
    line.className = "machine " + (machine.correct ? "correct" : "wrong");
  }

  async function markTell(chip) {
    if (phase !== "revealed" || !round) return;
    chips.forEach((c) => { c.disabled = true; });
    try {
      await api("/api/tell", { round: round.round, tell: chip.dataset.tell });
      chip.setAttribute("aria-pressed", "true");
    } catch (error) {
      setStatus(error.message, "wrong");
    }
  }

  faces.forEach((face) => face.addEventListener("click", () => choose(Number(face.dataset.choice))));
  chips.forEach((chip) => chip.addEventListener("click", () => markTell(chip)));
  next.addEventListener("click", () => { if (phase === "revealed") newRound(); });

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
    const key = event.key;
    root.dataset.keyboard = "1";
    if (phase === "choosing" && (key === "1" || key === "ArrowLeft")) { event.preventDefault(); choose(0); }
    else if (phase === "choosing" && (key === "2" || key === "ArrowRight")) { event.preventDefault(); choose(1); }
    else if (phase === "revealed" && (key === "n" || key === "N")) { event.preventDefault(); newRound(); }
    else if (phase === "revealed" && key === "Enter" && !(target instanceof HTMLButtonElement)
             && !(target instanceof HTMLAnchorElement)) { event.preventDefault(); newRound(); }
  });

  api("/api/me").then(showScore).catch(() => undefined);
  newRound();
})();
