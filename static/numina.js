// Numina's small script: the composer (Enter sends, the reply streams in), the inline
// edit and Regenerate (their replies stream in too) and a few comforts. Everything here
// is an enhancement: without it every form still posts.
(function () {
  "use strict";

  const STREAM_HEADER = "X-Numina-Stream";
  const UNREACHABLE = "Numina could not be reached. Your text is still here; try again.";

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

  function messageList() {
    return document.getElementById("message-list");
  }

  // Server-rendered messages put on the page: htmx must see their buttons (Edit, the
  // versions) as it does the page's own.
  function insertHtml(html, place) {
    const nodes = Array.from(fragment(html).children);
    place(nodes);
    if (window.htmx) nodes.forEach((node) => window.htmx.process(node));
    return nodes;
  }

  // The whole list after an edit or a regenerate: another branch is shown now.
  function showList(html) {
    const list = messageList();
    if (!list || !html) return;
    insertHtml(html, (nodes) => list.replaceWith(...nodes));
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

  function refusal(body) {
    return body && body.errors && body.errors.length ? body.errors.join(" ") : null;
  }

  // POST for a reply as a stream of JSON lines into `reply` (a pending bubble).
  // `accepted()` runs once the server has taken the request, before the reply streams.
  // Resolves with the last event ("done", or "error": the model failed); rejects with
  // an Error whose message says what went wrong, `.refused` when nothing was stored.
  async function streamReply(url, body, csrf, reply, accepted) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        body,
        headers: { [STREAM_HEADER]: "1", "X-CSRFToken": csrf },
        credentials: "same-origin",
      });
    } catch (_) {
      const error = new Error(UNREACHABLE);
      error.refused = true;
      throw error;
    }
    if (!response.ok) {
      let message = "That could not be sent. Your text is still here.";
      try {
        message = refusal(await response.json()) || message;
      } catch (_) { /* not JSON: keep the general message */ }
      const error = new Error(message);
      error.refused = true;
      throw error;
    }
    accepted();
    const replyBody = reply.querySelector(".message-body");
    let last = null;
    await readLines(response, (event) => {
      if (event.type === "delta") {
        reply.classList.remove("is-typing");
        replyBody.textContent += event.text;
        scrollToEnd();
      } else if (event.type === "done" || event.type === "error") {
        last = event;
      }
    });
    if (!last) throw new Error("The connection ended before the reply did. Reload to see what was saved.");
    return last;
  }

  // An edit's or a regenerate's last event: the list as it now is, and below it what
  // went wrong, if anything (no list: the chat was deleted meanwhile).
  function showOutcome(event, reply) {
    if (!event.list) {
      if (event.type === "error") showFailure(reply, event.message);
      return;
    }
    showList(event.list);
    if (event.type === "error") {
      const failed = typingReply();
      messageList().append(failed);
      showFailure(failed, event.message);
    }
  }

  function showFailure(reply, message) {
    reply.classList.remove("is-typing");
    reply.classList.add("is-error");
    reply.querySelector(".message-body").textContent = message;
  }

  function typingReply() {
    const reply = pendingMessage("assistant", "");
    reply.classList.add("is-typing");
    return reply;
  }

  // Everything from `article` on leaves the list (the branch shown forks there); the
  // removed messages are returned so a refusal can put them back.
  function cutFrom(article) {
    const removed = [];
    for (let node = article; node; ) {
      const next = node.nextElementSibling;
      removed.push(node);
      node.remove();
      node = next;
    }
    return removed;
  }

  function changed() {
    if (window.htmx) window.htmx.trigger(document.body, "conversationsChanged");
  }

  async function send(form) {
    const textarea = form.querySelector("textarea[name=content]");
    const button = form.querySelector("button[type=submit]");
    const text = textarea.value;
    if (!text.trim() || form.dataset.busy) return;
    if (form.querySelector("#composer-files [data-uploading]")) {
      showError(form, "Wait until the files have finished uploading.");
      return;
    }
    form.dataset.busy = "1";
    button.disabled = true;
    showError(form, "");
    live.beginWrite();
    const list = messageList();
    document.getElementById("empty-state")?.remove();
    const mine = pendingMessage("user", text);
    const reply = typingReply();
    list.append(mine, reply);
    scrollToEnd();
    try {
      const event = await streamReply(form.action, new FormData(form), csrfToken(form), reply, () => {
        // The server has the message: the box can be emptied now, not before.
        textarea.value = "";
        fitTextarea(textarea);
        attachments.clear(form);
      });
      insertHtml(event.html, (nodes) => mine.replaceWith(...nodes));
      if (event.type === "error") showFailure(reply, event.message);
      else reply.remove();
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
      changed();
      scrollToEnd();
    } catch (error) {
      mine.remove();
      reply.remove();
      if (!textarea.value) textarea.value = text; // never lose what was typed
      showError(form, error instanceof TypeError ? UNREACHABLE : error.message);
      fitTextarea(textarea);
    } finally {
      delete form.dataset.busy;
      button.disabled = false;
      textarea.focus();
      live.endWrite();
    }
  }

  // Save and send in the inline edit: the new version replaces the message and what
  // followed it on the page, and its reply streams in below it.
  async function sendEdit(form) {
    const textarea = form.querySelector("textarea[name=content]");
    const text = textarea.value;
    const error = form.querySelector(".field-error");
    if (!text.trim() || form.dataset.busy) return;
    form.dataset.busy = "1";
    form.querySelectorAll("button").forEach((button) => { button.disabled = true; });
    live.beginWrite();
    const article = form.closest("article");
    const list = messageList();
    const mine = pendingMessage("user", text);
    const reply = typingReply();
    let removed = null;
    try {
      const event = await streamReply(form.action, new FormData(form), csrfToken(form), reply, () => {
        const anchor = article.previousElementSibling;
        removed = cutFrom(article);
        if (anchor) anchor.after(mine, reply);
        else list.append(mine, reply);
        scrollToEnd();
      });
      showOutcome(event, reply);
      changed();
      scrollToEnd();
    } catch (failure) {
      if (removed === null) {
        error.textContent = failure.message;
        textarea.setAttribute("aria-invalid", "true");
      } else {
        showFailure(reply, failure instanceof TypeError ? UNREACHABLE : failure.message);
      }
    } finally {
      delete form.dataset.busy;
      form.querySelectorAll("button").forEach((button) => { button.disabled = false; });
      live.endWrite();
    }
  }

  // Regenerate: the reply and what followed it leave the page, the new version
  // streams in in their place.
  async function regenerate(button) {
    const article = button.closest("article");
    const actions = document.getElementById("message-actions");
    const composer = document.getElementById("composer");
    if (!article || !actions || button.dataset.busy) return;
    button.dataset.busy = "1";
    button.disabled = true;
    if (composer) showError(composer, "");
    live.beginWrite();
    const list = messageList();
    const reply = typingReply();
    let removed = null;
    try {
      const event = await streamReply(button.formAction, new FormData(actions), csrfToken(actions), reply, () => {
        const anchor = article.previousElementSibling;
        removed = cutFrom(article);
        if (anchor) anchor.after(reply);
        else list.append(reply);
        scrollToEnd();
      });
      showOutcome(event, reply);
      changed();
      scrollToEnd();
    } catch (failure) {
      if (removed === null) {
        if (composer) showError(composer, failure.message);
      } else {
        showFailure(reply, failure instanceof TypeError ? UNREACHABLE : failure.message);
      }
    } finally {
      delete button.dataset.busy;
      button.disabled = false;
      live.endWrite();
    }
  }

  // --- Live updates: the event stream of the user's changes (API.md, GET /api/v1/events/).
  // Every signed-in page follows it with one EventSource; after a drop it reconnects
  // from the last event it saw, and the server replays what was missed: everything here
  // is applied so that seeing an event twice changes nothing. What is shown comes from the server's
  // own partials (the sidebar list, the heading, one message), never from markup built
  // here, so escaping and sanitising stay in one place.
  const live = (function () {
    const SIDEBAR_DELAY = 150; // ms: a burst of events (a bulk action) is one reload
    const RETRY_FIRST = 500; // ms before reconnecting, doubled while it keeps failing
    const RETRY_MOST = 30000;
    const FOCUSABLE = "a[href], button, summary, input, select, textarea";
    let source = null;
    let lastId = "";
    let retryIn = RETRY_FIRST;
    let retryTimer = null;
    let sidebarTimer = null;
    let sidebarBusy = false;
    let sidebarAgain = false;
    let writes = 0; // this page's own sends / edits / regenerates under way
    let held = []; // message events that came in meanwhile
    let queue = Promise.resolve(); // message events are applied one after the other, in order

    function partial(url) {
      return fetch(url, {
        headers: { "HX-Request": "true", "HX-Current-URL": location.href },
        credentials: "same-origin",
      }).then((response) => (response.ok ? response.text() : null));
    }

    function openChatId() {
      return document.getElementById("chat-title")?.dataset.conversationId || null;
    }

    // --- the sidebar: one reload for the page's own actions (conversationsChanged) and
    // for the event stream's changes alike (the same partial, same tab, same search),
    // keeping what the person is in the middle of there. (An htmx trigger on the list
    // itself once reloaded it beside this one, and wiped an inline rename opened just
    // after a send.)
    function sidebarChanged(delay = SIDEBAR_DELAY) {
      clearTimeout(sidebarTimer);
      sidebarTimer = setTimeout(reloadSidebar, delay);
    }

    async function reloadSidebar() {
      const list = document.getElementById("chat-list");
      if (!list) return;
      if (sidebarBusy) {
        sidebarAgain = true;
        return;
      }
      sidebarBusy = true;
      const url = list.dataset.reloadUrl;
      try {
        const html = await partial(url);
        const current = document.getElementById("chat-list");
        if (current && inFlight(current)) {
          // An action of the person's own (Rename, Pin …) is on its way into this list:
          // swapping now would leave its answer nowhere. Try again once it has landed.
          sidebarAgain = true;
        } else if (html && current && current.dataset.reloadUrl === url) {
          // (Another tab or search chosen meanwhile: its own answer is on its way.)
          swapSidebar(current, html);
        }
      } catch (_) {
        /* unreachable for now: the next event or reconnect tries again */
      } finally {
        sidebarBusy = false;
        if (sidebarAgain) {
          sidebarAgain = false;
          sidebarChanged();
        }
      }
    }

    function inFlight(list) {
      return list.classList.contains("htmx-request") || Boolean(list.querySelector(".htmx-request"));
    }

    // Where the focus is, as something that can be found again in the new list: the
    // entry (by its id) and the control's place among the entry's controls.
    function focusPlace(list) {
      const active = document.activeElement;
      if (!active || !list.contains(active)) return null;
      const item = active.closest("li[id]");
      const scope = item || list;
      const controls = Array.from(scope.querySelectorAll(FOCUSABLE));
      return {
        item: item ? item.id : null,
        index: controls.indexOf(active),
        selection: "selectionStart" in active ? [active.selectionStart, active.selectionEnd] : null,
      };
    }

    function refocus(list, place) {
      if (!place) return;
      const scope = place.item ? list.querySelector("#" + CSS.escape(place.item)) : list;
      const control = scope && Array.from(scope.querySelectorAll(FOCUSABLE))[place.index];
      if (!control) return; // the entry left the list (archived, deleted): nothing to keep
      control.focus({ preventScroll: true });
      if (place.selection && control.setSelectionRange) {
        try {
          control.setSelectionRange(...place.selection);
        } catch (_) { /* not a text field any more */ }
      }
    }

    function swapSidebar(list, html) {
      const next = fragment(html).firstElementChild;
      if (!next || next.id !== "chat-list") return;
      const place = focusPlace(list);
      // An inline rename being typed stays as it is, in the entry's new place.
      list.querySelectorAll("li.is-renaming[id]").forEach((item) => {
        next.querySelector("#" + CSS.escape(item.id))?.replaceWith(item);
      });
      // An open actions menu stays open, with what is being typed in its Tags field.
      list.querySelectorAll("li[id] details.chat-actions[open]").forEach((menu) => {
        const twin = next.querySelector("#" + CSS.escape(menu.closest("li").id) + " details.chat-actions");
        if (!twin) return;
        twin.open = true;
        const typed = menu.querySelector("input[name=tags]");
        const field = twin.querySelector("input[name=tags]");
        if (typed && field) field.value = typed.value;
      });
      // While selecting: the chats ticked stay ticked, and the tags being typed stay.
      list.querySelectorAll("input.select-chat:checked").forEach((box) => {
        const twin = next.querySelector("input.select-chat[value='" + CSS.escape(box.value) + "']");
        if (twin) twin.checked = true;
      });
      const bulkTags = list.querySelector("#bulk-tags");
      const nextBulkTags = next.querySelector("#bulk-tags");
      if (bulkTags && nextBulkTags) nextBulkTags.value = bulkTags.value;
      const scrolled = list.scrollTop;
      list.replaceWith(next);
      next.scrollTop = scrolled;
      if (window.htmx) window.htmx.process(next);
      refocus(next, place);
    }

    // --- the open chat
    async function reloadHeading(id) {
      const heading = document.getElementById("chat-title");
      if (!heading || heading.dataset.conversationId !== id) return;
      const html = await partial(heading.getAttribute("hx-get"));
      const current = document.getElementById("chat-title");
      const replacement = html && fragment(html).firstElementChild;
      if (!replacement || !current || current.dataset.conversationId !== id) return;
      current.replaceWith(replacement);
      if (window.htmx) window.htmx.process(replacement);
      document.title = replacement.textContent.trim() + " · Numina";
    }

    function notice(text) {
      const place = document.getElementById("chat-notice");
      if (place) place.textContent = text;
      const composer = document.getElementById("composer");
      composer?.querySelectorAll("textarea, button").forEach((control) => {
        control.disabled = Boolean(text);
      });
    }

    function onConversation(conversation) {
      sidebarChanged();
      if (conversation.id !== openChatId()) return;
      // Back from the trash elsewhere: the chat can be written to again.
      if (document.getElementById("chat-notice")?.textContent) notice("");
      reloadHeading(conversation.id).catch(() => {});
    }

    function onDeleted(deleted) {
      sidebarChanged();
      if (deleted.id === openChatId()) {
        notice("This chat was deleted in another window or device. Start a new chat to go on.");
      }
    }

    // A message stored elsewhere goes on the page if it continues the branch shown
    // there (its parent is the last message shown) and is not on the page yet.
    async function showMessage(message) {
      const list = messageList();
      if (!list || message.conversation_id !== openChatId()) return;
      if (list.querySelector('article[data-message-id="' + CSS.escape(message.id) + '"]')) return;
      const shown = list.querySelectorAll("article[data-message-id]");
      const last = shown.length ? shown[shown.length - 1].dataset.messageId : null;
      if ((message.parent_id || null) !== last) return;
      const url = "/chats/" + encodeURIComponent(message.conversation_id) + "/messages/"
        + encodeURIComponent(message.id) + "/";
      const html = await partial(url);
      const again = messageList();
      // Checked again: the page may have changed while the message was on its way.
      if (!html || !again || again.querySelector('article[data-message-id="' + CSS.escape(message.id) + '"]')) return;
      const messages = document.getElementById("messages");
      const atEnd = messages && messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
      document.getElementById("empty-state")?.remove();
      insertHtml(html, (nodes) => again.append(...nodes));
      if (atEnd) scrollToEnd(); // never pull someone reading further up down to the end
    }

    function onMessage(message) {
      sidebarChanged(); // its preview and place in the list
      // This page's own send, edit or regenerate puts its messages on the page itself
      // (under pending bubbles until the server answers with their ids): what arrives
      // meanwhile waits, and is then looked at again, by id.
      if (writes > 0) {
        held.push(message);
        return;
      }
      queue = queue.then(() => showMessage(message)).catch(() => {});
    }

    function beginWrite() {
      writes += 1;
    }

    function endWrite() {
      writes = Math.max(0, writes - 1);
      if (writes > 0) return;
      const waiting = held;
      held = [];
      waiting.forEach(onMessage);
    }

    // --- the stream
    function listen(name, apply) {
      source.addEventListener(name, (event) => {
        lastId = event.lastEventId || lastId;
        let data;
        try {
          data = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        apply(data);
      });
    }

    function open() {
      const url = document.body.dataset.eventsUrl;
      if (!url || !window.EventSource || source) return;
      // Resumed from the last event seen (or where the page was made) by the query,
      // for a new EventSource sends no Last-Event-ID.
      source = new EventSource(lastId ? url + "?since=" + encodeURIComponent(lastId) : url);
      let opened = false;
      source.addEventListener("open", () => {
        opened = true;
        retryIn = RETRY_FIRST;
      });
      source.addEventListener("error", () => {
        // Reconnected here rather than by EventSource itself, which would ask again
        // with the first URL's `since`: from the last event seen, sooner or later as
        // the server keeps failing.
        const from = lastId;
        close();
        retryTimer = setTimeout(open, retryIn);
        retryIn = Math.min(retryIn * 2, RETRY_MOST);
        if (!opened && from) refusedFrom(url, from);
      });
      listen("conversation", onConversation);
      listen("deleted", onDeleted);
      listen("message", onMessage);
    }

    // EventSource does not say why it could not connect. A stream refused from where
    // the page stands (a 400: a token the server does not know, say) would be refused
    // for ever: ask once for the status, and if so start from now, with the list read
    // afresh. Unreachable (offline) keeps the place, to catch up from it later.
    async function refusedFrom(url, from) {
      const asked = new AbortController();
      try {
        const response = await fetch(url + "?since=" + encodeURIComponent(from), {
          credentials: "same-origin",
          signal: asked.signal,
        });
        if (response.status === 400 && lastId === from) {
          lastId = "";
          sidebarChanged();
        }
      } catch (_) {
        /* unreachable: keep the place */
      } finally {
        asked.abort(); // an answer that is a stream is not read
      }
    }

    function close() {
      clearTimeout(retryTimer);
      if (source) source.close();
      source = null;
    }

    function start() {
      // The chat page says where in the stream it was made: following from there, a
      // change that committed while the page loaded is not missed.
      lastId = document.querySelector("[data-events-since]")?.dataset.eventsSince || "";
      open();
      // Leaving the page closes the stream (and keeps the page fit for the back-forward
      // cache); coming back to it resumes where it stopped.
      window.addEventListener("pagehide", close);
      // The page's own actions say so at once (a send, an archive, a version switch).
      document.body.addEventListener("conversationsChanged", () => sidebarChanged(0));
      window.addEventListener("pageshow", (event) => {
        if (!event.persisted) return;
        if (!lastId) sidebarChanged(); // nothing to resume from: at least the list is fresh
        open();
      });
    }

    return { start, beginWrite, endWrite };
  })();

  function setUpMessageTools() {
    if (!window.fetch || !window.ReadableStream) return;
    // Listened for on the document: the messages come and go (htmx swaps, streams).
    document.addEventListener("submit", (event) => {
      const form = event.target.closest?.(".message .edit-form");
      if (!form) return;
      event.preventDefault();
      sendEdit(form);
    });
    document.addEventListener("click", (event) => {
      const button = event.target.closest?.("button[data-stream-reply]");
      if (!button) return;
      event.preventDefault();
      regenerate(button);
    });
    document.addEventListener("keydown", (event) => {
      const textarea = event.target.closest?.(".message .edit-form textarea");
      if (!textarea) return;
      if (event.key === "Escape") {
        event.preventDefault();
        const form = textarea.form;
        htmx.ajax("GET", form.dataset.cancelUrl, { target: form.closest("article"), swap: "outerHTML" });
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        textarea.form.requestSubmit();
      }
    });
    document.addEventListener("input", (event) => {
      const textarea = event.target.closest?.(".message .edit-form textarea");
      if (textarea) fitTextarea(textarea);
    });
  }

  // Attach file: each chosen, dropped or pasted file is uploaded at once to the API
  // (streamed and checked there) and shown as a chip; a chip that uploaded carries a
  // hidden "attachments" value (file:<id>) that the send takes along.
  const attachments = (function () {
    function chips(form) {
      return form.querySelector("#composer-files");
    }

    function removeButton(chip, name) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "chip-remove";
      button.setAttribute("aria-label", "Remove " + name);
      button.textContent = "\u00d7";
      button.addEventListener("click", () => chip.remove());
      return button;
    }

    async function upload(form, file) {
      const input = form.querySelector("#attach-file");
      const chip = document.createElement("li");
      chip.className = "chip";
      chip.dataset.uploading = "1";
      const label = document.createElement("span");
      label.className = "chip-name";
      label.textContent = file.name || "pasted image";
      const state = document.createElement("span");
      state.className = "chip-state";
      state.textContent = "Uploading\u2026";
      chip.append(label, state);
      chips(form).append(chip);
      const body = new FormData();
      body.append("file", file, file.name || "pasted-image.png");
      try {
        const response = await fetch(input.dataset.uploadUrl, {
          method: "POST",
          body,
          headers: { "X-CSRFToken": csrfToken(form) },
          credentials: "same-origin",
        });
        const answer = await response.json().catch(() => ({}));
        if (response.status !== 201) {
          const reason = (answer.file && answer.file[0]) || answer.detail || "The file could not be uploaded.";
          throw new Error(reason);
        }
        const value = document.createElement("input");
        value.type = "hidden";
        value.name = "attachments";
        value.value = "file:" + answer.id;
        state.textContent = "";
        chip.append(value);
      } catch (error) {
        chip.classList.add("chip-failed");
        state.textContent = error instanceof TypeError ? UNREACHABLE : error.message;
        showError(form, (file.name || "The file") + ": " + state.textContent);
      } finally {
        delete chip.dataset.uploading;
        chip.append(removeButton(chip, label.textContent));
      }
    }

    function add(form, files) {
      showError(form, "");
      Array.from(files).forEach((file) => upload(form, file));
    }

    function clear(form) {
      chips(form).replaceChildren();
    }

    function setUp(form) {
      const input = form.querySelector("#attach-file");
      if (!input) return;
      input.addEventListener("change", () => {
        add(form, input.files);
        input.value = "";
      });
      form.addEventListener("dragover", (event) => {
        if (!event.dataTransfer?.types.includes("Files")) return;
        event.preventDefault();
        form.classList.add("dropping");
      });
      form.addEventListener("dragleave", () => form.classList.remove("dropping"));
      form.addEventListener("drop", (event) => {
        form.classList.remove("dropping");
        if (!event.dataTransfer?.files.length) return;
        event.preventDefault();
        add(form, event.dataTransfer.files);
      });
      form.querySelector("textarea").addEventListener("paste", (event) => {
        const images = Array.from(event.clipboardData?.files || []).filter((f) => f.type.startsWith("image/"));
        if (!images.length) return;
        event.preventDefault();
        add(form, images);
      });
    }

    return { setUp, clear };
  })();

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
    attachments.setUp(form);
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
    // An action chosen from a menu closes it (after Delete's question, if any: htmx
    // asks before the request), focus going back to its toggle. The sidebar's reload
    // keeps open menus open, so one left open here would still be open after the Pin.
    document.addEventListener("htmx:beforeRequest", (event) => {
      const menu = event.detail.elt?.closest?.("details.chat-actions[open]");
      if (!menu) return;
      const hadFocus = menu.contains(document.activeElement);
      menu.open = false;
      if (hadFocus) menu.querySelector("summary").focus();
    });
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
      const xhr = event.detail.xhr;
      const said = (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain") && xhr.responseText;
      window.alert(said || (xhr.status === 404 ? "That chat or message no longer exists." : "Something went wrong (" + xhr.status + "). Please try again."));
    });
    // A version switch swaps the whole list: keep the keyboard where it was, on the
    // same button of the version now shown.
    let versionAsked = null;
    document.body.addEventListener("htmx:beforeRequest", (event) => {
      // Only a version button sets it: another request starting before the swap (the
      // heading's reload on the switch's conversationsChanged) must not clear it.
      const button = event.detail.elt;
      if (button?.dataset?.versionId) {
        versionAsked = { id: button.dataset.versionId, label: button.getAttribute("aria-label") };
      }
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
      // The inline edit's field takes focus too, with the caret at the end.
      const edit = document.querySelector(".message .edit-form textarea");
      if (edit && document.activeElement !== edit && !edit.dataset.focused) {
        edit.dataset.focused = "1";
        fitTextarea(edit);
        edit.focus();
        edit.setSelectionRange(edit.value.length, edit.value.length);
      }
      if (versionAsked && event.detail.target?.id === "message-list") {
        const shown = document.querySelector('article[data-message-id="' + versionAsked.id + '"] .versions');
        const again = shown?.querySelector('button[aria-label="' + versionAsked.label + '"]:not([disabled])')
          || shown?.querySelector("button:not([disabled])");
        again?.focus();
        versionAsked = null;
      }
    });
  }

  function setUpCopyLink() {
    // Copy link (the sharing panel): the field's text to the clipboard, and says so. Where
    // the clipboard is refused (no secure context), the text is selected for Ctrl+C.
    document.addEventListener("click", async (event) => {
      const button = event.target.closest?.("[data-copy-from]");
      if (!button) return;
      const field = document.querySelector(button.dataset.copyFrom);
      const status = button.parentElement.querySelector("[data-copy-status]");
      if (!field) return;
      try {
        await navigator.clipboard.writeText(field.value);
        if (status) status.textContent = "Copied";
      } catch (error) {
        field.focus();
        field.select();
        if (status) status.textContent = "Press Ctrl+C to copy";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpCopyLink();
    setUpComposer();
    setUpMessageTools();
    setUpMenus();
    setUpRename();
    setUpHtmx();
    live.start();
    scrollToEnd();
    if (location.hash.startsWith("#m-")) document.querySelector(location.hash)?.scrollIntoView();
  });
})();
