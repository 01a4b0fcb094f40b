// The fmrec web page: known-user recommendations and a new-user flow.
// Plain browser JavaScript over the JSON API of the same server; every text
// from the API is inserted with textContent, never as HTML.
"use strict";

const LIST_LENGTH = 10;
const state = { ratingRange: [1, 5], ratings: new Map() };

const $ = (id) => document.getElementById(id);

// Fetch JSON from the API; throw an Error with the API's message on failure.
async function api(path, options = {}) {
  const response = await fetch(path, {
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    throw new Error(message);
  }
  return body;
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Clip a score to the rating range, as the API's predicted ratings are.
function clip(score) {
  const [low, high] = state.ratingRange;
  return Math.min(Math.max(score, low), high);
}

function movieLabel(item) {
  return item.year && !item.title.includes(`(${item.year})`)
    ? `${item.title} (${item.year})`
    : item.title;
}

function movieHeader(item, detail) {
  const header = element("div", "movie-header");
  header.append(element("span", "title", movieLabel(item)));
  if (detail) header.append(element("span", "detail", detail));
  if (item.genres.length) header.append(element("span", "genres", item.genres.join(" · ")));
  return header;
}

function termsTable(explanation) {
  const table = element("table", "terms");
  table.append(element("caption", null, "How the predicted rating adds up"));
  const head = table.createTHead().insertRow();
  for (const name of ["Term", "Feature group", "Value"]) {
    const cell = element("th", null, name);
    cell.scope = "col";
    head.append(cell);
  }
  const body = table.createTBody();
  for (const term of explanation.terms) {
    const row = body.insertRow();
    row.insertCell().textContent = term.kind;
    row.insertCell().textContent = term.group;
    row.insertCell().textContent = term.value.toFixed(3);
  }
  const total = table.createTFoot().insertRow();
  const label = element("th", null, "Sum (unclipped score)");
  label.scope = "row";
  label.colSpan = 2;
  total.append(label);
  total.insertCell().textContent = explanation.score.toFixed(3);
  return table;
}

function recommendationItem(item, coldStart) {
  const entry = element("li", "movie");
  const detail = coldStart
    ? `${item.score} ratings`
    : `predicted ${clip(item.score).toFixed(1)}`;
  entry.append(movieHeader(item, detail));
  if (item.explanation) {
    entry.append(element("p", "why", item.explanation.sentence));
    const details = element("details");
    details.append(element("summary", null, "Show the score terms"));
    details.append(termsTable(item.explanation));
    entry.append(details);
  }
  return entry;
}

function showRecommendations(list, result, status) {
  list.replaceChildren(...result.items.map((item) => recommendationItem(item, result.cold_start)));
  status.textContent = result.cold_start
    ? `Most-rated movies, because the model has nothing to go on (${result.note}).`
    : `${plural(result.items.length, "recommendation")}${result.note ? `; ${result.note}` : ""}.`;
}

// Known users

async function showUser(userId) {
  const status = $("user-status");
  status.textContent = `Loading user ${userId}…`;
  try {
    const [rated, recs] = await Promise.all([
      api(`/users/${userId}/rated?n=${LIST_LENGTH}`),
      api(`/users/${userId}/recommendations?n=${LIST_LENGTH}&explain=true`),
    ]);
    $("rated-list").replaceChildren(
      ...rated.items.map((item) => {
        const entry = element("li", "movie");
        entry.append(movieHeader(item, `predicted ${item.predicted_rating.toFixed(1)}`));
        return entry;
      }),
    );
    $("rated-heading").textContent =
      `Rated in training (${rated.items.length} of ${rated.n_rated})`;
    showRecommendations($("user-recs"), recs, status);
    status.textContent = `User ${userId}: ${status.textContent}`;
  } catch (error) {
    $("rated-list").replaceChildren();
    $("user-recs").replaceChildren();
    status.textContent = error.message;
  }
}

async function suggestUsers() {
  const digits = $("user-id").value.trim();
  if (!/^[0-9]*$/.test(digits)) return;
  try {
    const found = await api(`/users/search?q=${digits}&n=20`);
    $("user-suggestions").replaceChildren(
      ...found.users.map((user) => {
        const option = element("option");
        option.value = String(user.user_id);
        option.label = `user ${user.user_id}, ${user.n_ratings} ratings`;
        return option;
      }),
    );
  } catch (error) {
    $("user-status").textContent = error.message;
  }
}

async function pickRandomUser() {
  const digit = 1 + Math.floor(Math.random() * 9);
  try {
    const found = await api(`/users/search?q=${digit}&n=${LIST_LENGTH * 5}`);
    if (!found.users.length) throw new Error("No users found.");
    const user = found.users[Math.floor(Math.random() * found.users.length)];
    $("user-id").value = String(user.user_id);
    await showUser(user.user_id);
  } catch (error) {
    $("user-status").textContent = error.message;
  }
}

function onUserSubmit(event) {
  event.preventDefault();
  const value = $("user-id").value.trim();
  if (!/^[0-9]+$/.test(value)) {
    $("user-status").textContent = "Enter a user id made of digits, such as 4.";
    $("user-id").focus();
    return;
  }
  showUser(value);
}

// New users

function ratingSelect(id, selected) {
  const select = element("select");
  select.id = id;
  const [low, high] = state.ratingRange;
  const step = Number.isInteger(low) && Number.isInteger(high) ? 1 : 0.5;
  for (let value = high; value >= low; value -= step) {
    const option = element("option", null, String(value));
    option.value = String(value);
    option.selected = value === selected;
    select.append(option);
  }
  return select;
}

function searchResult(item) {
  const entry = element("li", "movie");
  entry.append(movieHeader(item, `${item.n_ratings} ratings`));
  const controls = element("div", "rate");
  const selectId = `rate-${item.item_id}`;
  const label = element("label", null, "Your rating");
  label.htmlFor = selectId;
  const select = ratingSelect(selectId, state.ratings.get(item.item_id)?.rating ?? state.ratingRange[1]);
  const button = element("button", null, "Rate");
  button.type = "button";
  button.setAttribute("aria-label", `Rate ${movieLabel(item)}`);
  button.addEventListener("click", () => rate(item, Number(select.value)));
  controls.append(label, select, button);
  entry.append(controls);
  return entry;
}

async function searchTitles(event) {
  event.preventDefault();
  const query = $("title-query").value.trim();
  const status = $("search-status");
  if (!query) {
    status.textContent = "Enter a word of the title, such as star.";
    $("title-query").focus();
    return;
  }
  try {
    const found = await api(`/items/search?q=${encodeURIComponent(query)}&n=${LIST_LENGTH}`);
    $("search-results").replaceChildren(...found.items.map(searchResult));
    status.textContent = found.items.length
      ? `${plural(found.items.length, "movie")} match "${query}", most-rated first.`
      : `No movie title contains "${query}".`;
  } catch (error) {
    status.textContent = error.message;
  }
}

function rate(item, rating) {
  state.ratings.set(item.item_id, { item, rating });
  renderRatings();
  updateNewUser();
}

function removeRating(itemId) {
  state.ratings.delete(itemId);
  renderRatings();
  updateNewUser();
}

function renderRatings() {
  const entries = [...state.ratings.values()].map(({ item, rating }) => {
    const entry = element("li", "movie");
    entry.append(movieHeader(item, `rated ${rating}`));
    const button = element("button", "secondary", "Remove");
    button.type = "button";
    button.setAttribute("aria-label", `Remove the rating of ${movieLabel(item)}`);
    button.addEventListener("click", () => removeRating(item.item_id));
    entry.append(button);
    return entry;
  });
  $("my-ratings").replaceChildren(...entries);
  $("no-ratings").hidden = entries.length > 0;
}

async function updateNewUser() {
  const status = $("new-user-status");
  const ratings = [...state.ratings.values()].map(({ item, rating }) => ({
    item_id: item.item_id,
    rating,
  }));
  status.textContent = "Updating recommendations…";
  try {
    const result = await api("/new-user/recommendations", {
      method: "POST",
      body: JSON.stringify({ ratings, n: LIST_LENGTH, explain: true }),
    });
    showRecommendations($("new-user-recs"), result, status);
  } catch (error) {
    status.textContent = error.message;
  }
}

// Start-up

async function describeModel() {
  try {
    const model = await api("/model");
    state.ratingRange = model.rating_range;
    const data = model.info.dataset ? ` trained on ${model.info.dataset}` : "";
    $("model-summary").textContent =
      `Model${data}: ${model.n_users} users, ${model.n_items} movies, ` +
      `ratings from ${model.rating_range[0]} to ${model.rating_range[1]}.`;
  } catch (error) {
    $("model-summary").textContent = `The model description failed to load: ${error.message}`;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("user-form").addEventListener("submit", onUserSubmit);
  $("user-id").addEventListener("input", suggestUsers);
  $("random-user").addEventListener("click", pickRandomUser);
  $("search-form").addEventListener("submit", searchTitles);
  await describeModel();
  renderRatings();
  updateNewUser();
});
