// Trainer replay: stories step by step (← →), quizzes (A–D, Entrée), score at the end.
(function () {
  "use strict";
  const N = window.NUMI, R = N.T.trainer, el = N.el, $ = function (id) { return document.getElementById(id); };
  const LETTERS = "ABCDEFGH";
  let stories = [], story = null, index = 0, quiz = null, qIndex = 0, answers = [], answered = false, mode = null;

  function renderStories() {
    const src = $("story-source").value, ol = N.clear($("story-list"));
    stories.filter(function (s) { return !src || s.source === src; }).forEach(function (s) {
      ol.appendChild(el("li", { tabindex: 0, "data-id": s.id, onclick: function () { openStory(s.id); },
                                onkeydown: function (ev) { if (ev.key === "Enter") openStory(s.id); } },
        s.title, " ", el("span", { class: "muted" }, "(" + (R.sources[s.source] || s.source) + ", " + s.turns + ")")));
    });
  }

  async function openStory(id) {
    const r = await N.api("GET", "/api/trainer/stories/" + encodeURIComponent(id));
    if (!r.ok) return;
    story = r.body; index = 0; mode = "replay";
    $("quiz").hidden = true;
    $("replay").hidden = false;
    $("replay-title").textContent = story.title;
    document.querySelectorAll("#story-list li").forEach(function (li) { li.classList.toggle("selected", li.dataset.id === id); });
    showStep();
  }

  function botLine(m) {
    if (m.custom) {
      const c = m.custom;
      return el("li", { class: "card-line" }, (c.step_title ? "[" + c.step_title + "] " : "") + (c.script || c.say || ""));
    }
    return el("li", {}, (m.text || "") + (m.buttons && m.buttons.length ? "  [" + m.buttons.map(function (b) { return b.title; }).join("] [") + "]" : ""));
  }

  function showStep() {
    const steps = story.steps || [];
    if (!steps.length) return;
    index = Math.max(0, Math.min(index, steps.length - 1));
    const s = steps[index];
    $("replay-counter").textContent = R.step_of + " " + (index + 1) + " / " + steps.length;
    $("replay-customer").textContent = s.customer || "—";
    $("replay-intent").textContent = s.intent || "";
    $("replay-playbook").textContent = s.playbook ? s.playbook.scenario + " · " + (s.playbook.step_title || s.playbook.step) : "—";
    const ol = N.clear($("replay-bot"));
    (index === 0 ? (story.opening || []) : []).concat(s.bot || []).forEach(function (m) { ol.appendChild(botLine(m)); });
    $("replay-prev").disabled = index === 0;
    $("replay-next").disabled = index === steps.length - 1;
  }

  async function openQuiz(id) {
    const r = await N.api("GET", "/api/trainer/quizzes/" + encodeURIComponent(id));
    if (!r.ok || !r.body.questions.length) return;
    quiz = r.body; qIndex = 0; answers = []; mode = "quiz";
    $("replay").hidden = true;
    $("quiz").hidden = false;
    $("quiz-title").textContent = quiz.title;
    $("quiz-score").textContent = "";
    showQuestion();
  }

  function showQuestion() {
    const q = quiz.questions[qIndex];
    answered = false;
    $("quiz-counter").textContent = R.question + " " + (qIndex + 1) + " / " + quiz.questions.length;
    $("quiz-question").textContent = q.question;
    const box = N.clear($("quiz-choices"));
    q.choices.forEach(function (c, i) {
      box.appendChild(el("button", { type: "button", "data-letter": LETTERS[i], onclick: function () { answer(LETTERS[i]); } },
        LETTERS[i] + ") " + c));
    });
    $("quiz-feedback").hidden = true;
    $("quiz-next").hidden = true;
  }

  async function answer(letter) {
    if (answered) return;
    const q = quiz.questions[qIndex];
    if (LETTERS.indexOf(letter) >= q.choices.length) return;
    answered = true;
    answers[qIndex] = letter;
    const r = await N.api("POST", "/api/trainer/quizzes/" + encodeURIComponent(quiz.id) + "/answer", { index: qIndex, given: letter });
    if (!r.ok) { answered = false; return; }
    document.querySelectorAll("#quiz-choices button").forEach(function (b) {
      if (b.dataset.letter === r.body.answer) b.classList.add("right");
      else if (b.dataset.letter === letter) b.classList.add("wrong");
    });
    const fb = $("quiz-feedback");
    fb.textContent = (r.body.correct ? R.right : R.wrong + " " + r.body.answer + ".") + " " + (r.body.explanation || "");
    fb.hidden = false;
    $("quiz-next").hidden = false;
    $("quiz-next").focus();
  }

  async function nextQuestion() {
    if (!answered) return;
    if (qIndex < quiz.questions.length - 1) { qIndex++; showQuestion(); return; }
    const r = await N.api("POST", "/api/trainer/quizzes/" + encodeURIComponent(quiz.id) + "/score", { answers: answers });
    if (r.ok) $("quiz-score").textContent = R.score + " : " + r.body.correct + " / " + r.body.total;
    $("quiz-next").hidden = true;
  }

  N.boot(async function () {
    const [s, q] = await Promise.all([N.api("GET", "/api/trainer/stories"), N.api("GET", "/api/trainer/quizzes")]);
    if (s.ok) { stories = s.body.stories; renderStories(); }
    if (q.ok) {
      const ol = N.clear($("quiz-list"));
      q.body.quizzes.forEach(function (x) {
        ol.appendChild(el("li", { tabindex: 0, onclick: function () { openQuiz(x.id); },
                                  onkeydown: function (ev) { if (ev.key === "Enter") openQuiz(x.id); } },
          x.title, " ", el("span", { class: "muted" }, "(" + x.questions + ")")));
      });
    }
    $("story-source").addEventListener("change", renderStories);
    $("replay-prev").addEventListener("click", function () { index--; showStep(); });
    $("replay-next").addEventListener("click", function () { index++; showStep(); });
    $("replay-quiz").addEventListener("click", function () { if (story) openQuiz("story:" + story.id); });
    $("quiz-next").addEventListener("click", nextQuestion);
    document.addEventListener("keydown", function (ev) {
      if (ev.target && (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT")) return;
      if (mode === "replay" && story) {
        if (ev.key === "ArrowRight") { ev.preventDefault(); index++; showStep(); }
        if (ev.key === "ArrowLeft") { ev.preventDefault(); index--; showStep(); }
      } else if (mode === "quiz" && quiz) {
        const k = ev.key.toUpperCase();
        if (k.length === 1 && LETTERS.indexOf(k) >= 0 && !ev.ctrlKey && !ev.altKey) { ev.preventDefault(); answer(k); }
        if (ev.key === "Enter" && answered) { ev.preventDefault(); nextQuestion(); }
      }
    });
  });
})();
