// The grading page: typeset the math with the vendored KaTeX, and drive it from the keyboard.
"use strict";

function typeset(root) {
  if (typeof katex === "undefined") return;
  root.querySelectorAll(".math-tex:not(.deferred)").forEach(function (el) {
    if (el.dataset.done) return;
    const tex = el.textContent;
    try {
      katex.render(tex, el, {displayMode: el.classList.contains("display"), throwOnError: false, trust: false,
                             strict: "ignore", maxExpand: 500, maxSize: 20});
      el.dataset.done = "1";
    } catch (err) {
      el.textContent = tex;  // leave the source as text
    }
  });
}

// A formula past the answer's budget (render.py) is shown as source; its button typesets it.
function renderOnDemand(e) {
  const button = e.target.closest("button.render-math");
  if (!button) return;
  button.disabled = true;
  button.textContent = "Rendering…";
  setTimeout(function () {  // lets the page show "Rendering…" first: a long formula takes a while
    const box = button.parentNode;
    box.querySelectorAll(".math-tex.deferred").forEach(function (el) { el.classList.remove("deferred"); });
    button.remove();
    typeset(box);
  }, 50);
}

function isTyping(el) {
  return el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
                (el.tagName === "INPUT" && el.id !== "score" && el.type !== "hidden"));
}

function go(attr) {
  const url = document.body.dataset[attr];
  if (url) window.location.assign(url);
}

function insertFromBank(bank, comment) {
  const choice = bank.options[bank.selectedIndex];
  if (!choice) return;
  const text = choice.value;
  comment.value = comment.value.trim() ? comment.value.trim() + "\n" + text : text;
}

function answerPageKeys() {
  const score = document.getElementById("score");
  const comment = document.getElementById("comment");
  const bank = document.getElementById("bank");
  const form = document.getElementById("score-form");
  if (score) { score.focus(); score.select(); }
  document.addEventListener("keydown", function (e) {
    const t = e.target;
    if (t === comment) {
      if (e.key === "Escape") { e.preventDefault(); score.focus(); score.select(); }
      else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (bank && t === bank) {
      if (e.key === "Enter") { e.preventDefault(); insertFromBank(bank, comment); comment.focus(); }
      else if (e.key === "Escape") { e.preventDefault(); score.focus(); }
      return;
    }
    if (isTyping(t) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (/^[0-9.]$/.test(e.key) && t !== score) {  // a digit anywhere starts the score
      e.preventDefault(); score.focus(); score.value = e.key; return;
    }
    const action = {n: "next", p: "prev", s: "skip", i: "item"}[e.key];
    if (action) { e.preventDefault(); go(action); return; }
    if (e.key === "c") { e.preventDefault(); comment.focus(); return; }
    if (e.key === "b" && bank) { e.preventDefault(); bank.focus(); if (bank.selectedIndex < 0) bank.selectedIndex = 0; return; }
    if (e.key === "?") { e.preventDefault(); document.getElementById("keys").classList.toggle("shown"); return; }
    if (t === score && e.key.length === 1 && !/^[0-9.,]$/.test(e.key)) e.preventDefault();  // letters never land in the score
  });
  if (bank) bank.addEventListener("dblclick", function () { insertFromBank(bank, comment); comment.focus(); });
}

// One question of one answer: number keys apply and remove rubric items, Enter goes on.
function questionPageKeys() {
  document.addEventListener("keydown", function (e) {
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
      if (e.key === "Escape") { e.preventDefault(); t.blur(); }
      return;  // Enter in a field submits its own form
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (/^[1-9]$/.test(e.key)) {
      const item = document.querySelector('#rubric li[data-key="' + e.key + '"] form.apply');
      if (item) { e.preventDefault(); item.requestSubmit(); }
      return;
    }
    if (e.key === "Enter" && t && t.tagName === "BUTTON") return;  // a focused button does its own job
    const action = {Enter: "next", n: "next", p: "prev", "]": "down", "[": "up", s: "skip", i: "item", g: "groups",
                    u: "student"}[e.key];
    if (action) { e.preventDefault(); go(action); return; }
    if (e.key === "a") { e.preventDefault(); document.getElementById("add-points").focus(); return; }
    if (e.key === "j") { e.preventDefault(); document.getElementById("adjust-points").focus(); return; }
    if (e.key === "?") { e.preventDefault(); document.getElementById("keys").classList.toggle("shown"); }
  });
}

document.addEventListener("DOMContentLoaded", function () {
  typeset(document);
  document.addEventListener("click", renderOnDemand);
  if (document.body.dataset.page === "answer") answerPageKeys();
  if (document.body.dataset.page === "question") questionPageKeys();
});
