// Numina's small script: the composer (Enter sends, the reply streams in) and a few
// comforts. Everything here is an enhancement: without it every form still posts.
(function () {
  "use strict";

  const STREAM_HEADER = "X-Numina-Stream";

  function csrfToken(form) {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function scrollToEnd() {
    const messages = document.getElementById("messages");
    if (messages) messages.scrollTop = messages.scrollHeight;
  }

  function fitTextarea(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight, 240) + "px";
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html; // server-rendered: escaped, Markdown sanitised by nh3
    return template.content;
  }

  // A bubble for text the server has not answered for yet: plain text only.
  function pendingMessage(role, text) {
    const article = document.createElement("article");
    article.className = "message role-" + role + " is-pending";
    const header = document.createElement("header");
    header.className = "message-role";
    header.textContent = role === "user" ? "You" : "Assistant";
    const body = document.createElement("div");
    body.className = "message-body prose plain";
    body.textContent = text;
    article.append(header, body);
    return article;
  }

  function showError(form, text) {
    const error = form.querySelector("#composer-error");
    if (error) error.textContent = text;
    form.querySelector(".composer-box")?.classList.toggle("has-error", Boolean(text));
  }

  async function readLines(response, onLine) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) onLine(JSON.parse(line));
      }
    }
    if (buffered.trim()) onLine(JSON.parse(buffered));
  }

  async function send(form) {
    const textarea = form.querySelector("textarea[name=content]");
    const button = form.querySelector("button[type=submit]");
    const text = textarea.value;
    if (!text.trim() || form.dataset.busy) return;
    form.dataset.busy = "1";
    button.disabled = true;
    showError(form, "");
    const column = document.querySelector("#messages .column");
    document.getElementById("empty-state")?.remove();
    const mine = pendingMessage("user", text);
    const reply = pendingMessage("assistant", "");
    reply.classList.add("is-typing");
    column.append(mine, reply);
    scrollToEnd();
    let finished = false;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { [STREAM_HEADER]: "1", "X-CSRFToken": csrfToken(form) },
        credentials: "same-origin",
      });
      if (!response.ok) {
        let message = "Your message could not be sent. Your text is still here.";
        try {
          const body = await response.json();
          if (body.errors && body.errors.length) message = body.errors.join(" ");
        } catch (_) { /* not JSON: keep the general message */ }
        throw new Error(message);
      }
      // The server has the message: the box can be emptied now, not before.
      textarea.value = "";
      fitTextarea(textarea);
      const replyBody = reply.querySelector(".message-body");
      await readLines(response, (event) => {
        if (event.type === "delta") {
          reply.classList.remove("is-typing");
          replyBody.textContent += event.text;
          scrollToEnd();
        } else if (event.type === "done" || event.type === "error") {
          finished = true;
          mine.replaceWith(fragment(event.html));
          if (event.type === "error") {
            reply.classList.remove("is-typing");
            reply.classList.add("is-error");
            replyBody.textContent = event.message;
          } else {
            reply.remove();
          }
          if (event.url) {
            // A new chat now has an address, a heading that waits for its title, and
            // the sidebar lists it.
            history.replaceState(null, "", event.url);
            form.action = event.send_url;
            const heading = document.getElementById("chat-title");
            if (heading && event.heading) {
              const replacement = fragment(event.heading).firstElementChild;
              heading.replaceWith(replacement);
              if (window.htmx) window.htmx.process(replacement);
            }
          }
          if (window.htmx) window.htmx.trigger(document.body, "conversationsChanged");
          scrollToEnd();
        }
      });
      if (!finished) throw new Error("The connection ended before the reply did. Reload to see what was saved.");
    } catch (error) {
      if (!finished) {
        mine.remove();
        reply.remove();
        if (!textarea.value) textarea.value = text; // never lose what was typed
      }
      showError(form, error instanceof TypeError
        ? "Numina could not be reached. Your text is still here; try again."
        : error.message);
      fitTextarea(textarea);
    } finally {
      delete form.dataset.busy;
      button.disabled = false;
      textarea.focus();
    }
  }

  function setUpComposer() {
    const form = document.getElementById("composer");
    if (!form || !window.fetch || !window.ReadableStream) return;
    const textarea = form.querySelector("textarea[name=content]");
    fitTextarea(textarea);
    textarea.addEventListener("input", () => fitTextarea(textarea));
    textarea.addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter is a new line; never while an IME is composing.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(form);
    });
  }

  function setUpMenus() {
    // One open actions menu at a time; Escape closes it and gives focus back.
    document.addEventListener("toggle", (event) => {
      const opened = event.target;
      if (!(opened instanceof HTMLDetailsElement) || !opened.open) return;
      document.querySelectorAll("details.chat-actions[open]").forEach((other) => {
        if (other !== opened) other.open = false;
      });
    }, true);
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      const open = document.activeElement?.closest("details.chat-actions[open]");
      if (open) {
        open.open = false;
        open.querySelector("summary").focus();
      }
    });
  }

  function setUpRename() {
    // Escape puts the chat entry back. Listened for on the document rather than bound by
    // htmx to each swapped-in field: a key pressed before htmx had processed the new
    // field was lost.
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      const field = event.target.closest?.(".rename-form input[data-cancel-url]");
      if (!field) return;
      event.preventDefault();
      htmx.ajax("GET", field.dataset.cancelUrl, { target: field.closest("li"), swap: "outerHTML" });
    });
  }

  function setUpHtmx() {
    document.body.addEventListener("htmx:responseError", (event) => {
      const status = event.detail.xhr.status;
      window.alert(status === 404 ? "That chat no longer exists." : "Something went wrong (" + status + "). Please try again.");
    });
    document.body.addEventListener("htmx:sendError", () => {
      window.alert("Numina could not be reached. Please try again.");
    });
    // The inline rename's field takes focus as soon as it appears.
    document.body.addEventListener("htmx:afterSwap", (event) => {
      const field = event.detail.elt?.querySelector?.(".rename-form input[name=title]")
        || document.querySelector(".rename-form input[name=title]");
      if (field) {
        field.focus();
        field.select();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpComposer();
    setUpMenus();
    setUpRename();
    setUpHtmx();
    scrollToEnd();
    if (location.hash.startsWith("#m-")) document.querySelector(location.hash)?.scrollIntoView();
  });
})();
