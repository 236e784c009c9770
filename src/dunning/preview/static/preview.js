// The preview page: pick a letter, show its pages, findings or problem; refresh on change.
"use strict";

const $ = (id) => document.getElementById(id);
const FIELDS = ["template", "stage", "brand", "locale", "sample"];
const query = new URLSearchParams(location.search);
const state = Object.fromEntries([...FIELDS, "source"].map((k) => [k, query.get(k) || ""]));
let sequence = 0;
let generation = -1;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

function status(text) {
  $("status").replaceChildren(text ? el("span", { textContent: text }) : "");
}

function live(on) {
  $("live").className = "live " + (on ? "on" : "off");
  $("live").textContent = on ? "live: saving a file refreshes this page" : "not connected (retrying…)";
}

function fill(name, choices, current) {
  const select = $(name);
  const values = choices.map((c) => (Array.isArray(c) ? c : [c, c]));
  select.replaceChildren(...values.map(([value, label]) => el("option", { value, textContent: label })));
  if (values.some(([value]) => value === current)) select.value = current;
  else if (current && values.length) state[name] = "";
  // no choices (the config is broken): keep the author's choice for when it is fixed
  else if (current) select.append(el("option", { value: current, textContent: current, selected: true }));
}

function where(item) {
  return item.file ? item.file + (item.line ? `, line ${item.line}` : "") : "";
}

async function loadOptions() {
  const response = await fetch("/api/options?" + new URLSearchParams({ source: state.source }));
  const options = await response.json();
  fill("template", options.templates, state.template || options.default_template);
  fill("stage", options.stages, state.stage || "formal");
  fill("brand", options.brands.map((b) => b.key), state.brand);
  fill("locale", options.locales, state.locale);
  fill("sample", options.samples.map((s) => [s.id, `${s.id} · ${s.brand} · ${s.locale}`]), state.sample);
  $("source").value = state.source;
  $("rejected-box").hidden = !options.rejected.length;
  $("rejected").replaceChildren(...options.rejected.map((f) =>
    el("li", {}, el("span", { className: "where", textContent: where(f) }), " ", f.message)));
  if (options.problem) showProblem(options.problem, options.problems || []);
  return !options.problem;
}

function excerptLines(lines, hit) {
  return lines.map(([n, text]) => el("div", { className: "line" + (n === hit ? " hit" : "") },
    el("span", { className: "no", textContent: String(n) }),
    el("span", { className: "text", textContent: text })));
}

function showProblem(problem, others = []) {
  const box = $("problem");
  box.hidden = !problem;
  if (!problem) return;
  $("problem-kind").textContent = problem.kind;
  $("problem-where").textContent = where(problem);
  $("problem-message").textContent = problem.message;
  $("problem-advice").hidden = !problem.advice;
  $("problem-advice").textContent = problem.advice ? "What to do: " + problem.advice : "";
  const excerpt = $("problem-excerpt");
  excerpt.hidden = !problem.excerpt.length;
  excerpt.replaceChildren(...excerptLines(problem.excerpt, problem.line));
  const rest = others.filter((f) => f.message !== problem.message || f.line !== problem.line);
  $("problem-more").hidden = !rest.length;
  $("problem-list").replaceChildren(...rest.map((f) =>
    el("li", {}, el("span", { className: "where", textContent: where(f) + ": " }), f.message,
      f.advice ? el("div", { className: "advice", textContent: "What to do: " + f.advice }) : "")));
  $("pages").replaceChildren();
}

function showFindings(findings) {
  $("findings-count").textContent = findings.length ? `(${findings.length})` : "";
  const items = findings.map((f) => el("li", { className: f.severity },
    el("span", { className: "kind", textContent: f.kind }),
    f.where ? el("span", { className: "where", textContent: where(f) + ": " }) : "",
    f.message,
    f.advice ? el("div", { className: "advice", textContent: "What to do: " + f.advice }) : "",
    f.excerpt && f.excerpt.length ? el("div", { className: "excerpt" }, ...excerptLines(f.excerpt, f.line)) : ""));
  if (!items.length) items.push(el("li", { className: "none", textContent: "No findings for this letter." }));
  $("findings").replaceChildren(...items);
}

function showMeta(data) {
  const m = data.meta || {};
  $("meta").textContent = m.account_id
    ? `${m.account_id} · ${m.stage} · ${m.brand} · ${m.locale} · dated ${m.as_of}, ${m.dpd} days past due · ` +
      `total ${m.total} ${m.currency}` + (m.pages ? ` · ${m.pages} page(s)` : "") + ` · ${data.seconds} s`
    : "";
  if (data.pdf) $("meta").append(" · ", el("a", { href: data.pdf, target: "_blank", textContent: "draft PDF" }));
  $("batch-note").hidden = !m.batch;
  $("batch-note").textContent = m.batch || "";
}

function showPages(pages) {
  const images = pages.map((page, i) => el("img", { src: page.url, alt: page.text, title: `page ${i + 1}` }));
  images.forEach((img, i) => { img.dataset.page = String(i + 1); });
  return Promise.all(images.map((img) => img.decode().catch(() => null))).then(() => {
    $("pages").replaceChildren(...images);
  });
}

async function render() {
  const mine = ++sequence;
  document.body.dataset.state = "rendering";
  $("pages").classList.add("stale");
  status("rendering…");
  const response = await fetch("/api/letter?" + new URLSearchParams(state));
  const data = await response.json();
  if (mine !== sequence) return;
  for (const name of FIELDS) {
    const value = data.selection[name];
    if (value && [...$(name).options].some((o) => o.value === value)) $(name).value = value;
  }
  Object.assign(state, data.selection);
  history.replaceState(null, "", "?" + new URLSearchParams(state));
  generation = data.generation;
  showMeta(data);
  showFindings(data.findings);
  showProblem(data.problem, data.problems || []);
  if (!data.problem) await showPages(data.pages);
  if (mine !== sequence) return;
  $("pages").classList.remove("stale");
  document.body.dataset.generation = String(data.generation);
  document.body.dataset.state = data.problem ? "problem" : "ready";
  status(data.problem ? "" : `rendered in ${data.seconds} s`);
}

async function refresh() {
  try {
    await loadOptions();
    await render();
  } catch (error) {
    status("the preview server did not answer: " + error);
  }
}

function connect() {
  const events = new EventSource("/events");
  events.addEventListener("hello", (event) => {
    live(true);
    const current = JSON.parse(event.data).generation;
    if (generation >= 0 && current !== generation) refresh();
  });
  events.addEventListener("change", (event) => {
    const change = JSON.parse(event.data);
    status(`${change.files.join(", ")} changed, rendering…`);
    refresh();
  });
  events.onerror = () => live(false);
}

for (const name of FIELDS) {
  $(name).addEventListener("change", () => { state[name] = $(name).value; render(); });
}
$("load-source").addEventListener("click", () => {
  state.source = $("source").value.trim();
  state.sample = "";
  refresh();
});
$("source").addEventListener("keydown", (event) => {
  if (event.key === "Enter") { event.preventDefault(); $("load-source").click(); }
});

live(false);
connect();
refresh();
