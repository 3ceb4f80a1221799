// Small enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons next to secrets shown once.
  document.querySelectorAll("button.copy").forEach((button) => {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy)?.textContent ?? "";
      try { await navigator.clipboard.writeText(text); button.textContent = "Copied"; } catch { button.textContent = "Select and copy"; }
    });
  });
  // Confirmation before destructive actions.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => { if (!confirm(form.dataset.confirm)) event.preventDefault(); });
  });
  // Live streams (Server-Sent Events). A page left behind closes its streams: a browser kept it in
  // its back/forward cache with them open otherwise, and over HTTP/1.1 six such pages took every
  // connection to Herald, so the next click waited until one timed out. Coming back to such a page
  // loads it again, as its rows may have changed meanwhile.
  const streams = [];
  const stream = (url) => {
    const source = new EventSource(url);
    source.addEventListener("end", () => source.close());
    streams.push(source);
    return source;
  };
  window.addEventListener("pagehide", () => streams.forEach((source) => source.close()));
  window.addEventListener("pageshow", (event) => { if (event.persisted && streams.length) location.reload(); });
  // A database's live changes, pushed by the server.
  document.querySelectorAll("[data-live-changes]").forEach((list) => {
    const source = stream(list.dataset.liveChanges);
    source.onmessage = (message) => {
      const change = JSON.parse(message.data);
      if (list.firstElementChild?.classList.contains("muted")) list.innerHTML = "";
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/documents/${list.dataset.database}/${encodeURIComponent(change.id)}`;
      link.className = "mono";
      link.textContent = change.id;
      item.append(link, ` ${change.deleted ? "deleted" : "→ " + change.changes[0].rev} (seq ${change.seq})`);
      list.prepend(item);
    };
  });
  // The admin overview, rendered again by the server every few seconds.
  document.querySelectorAll("[data-live-overview]").forEach((box) => {
    const source = stream(box.dataset.liveOverview);
    source.onmessage = (message) => { box.innerHTML = message.data; };
  });
  // A hook's newest deliveries, live: new rows on top, changed rows in place.
  document.querySelectorAll("[data-live-tail]").forEach((body) => {
    const source = stream(body.dataset.liveTail);
    source.onmessage = (message) => {
      const template = document.createElement("template");
      template.innerHTML = message.data.trim();
      const row = template.content.firstElementChild;
      if (!row) return;
      const existing = body.querySelector(`tr[data-delivery="${CSS.escape(row.dataset.delivery)}"]`);
      if (existing) existing.replaceWith(row); else body.prepend(row);
    };
  });
  // A replay's live progress bar.
  document.querySelectorAll("[data-replay-progress]").forEach((box) => {
    const bar = box.querySelector("progress"), text = box.querySelector(".replay-text");
    const poll = async () => {
      const job = await (await fetch(box.dataset.replayProgress, { headers: { Accept: "application/json" } })).json();
      bar.max = job.total; bar.value = job.done;
      text.innerHTML = `<strong>${job.percent}%</strong> — ${job.done} of ${job.total} events scanned, ${job.queued} deliveries queued (${job.state})`;
      if (job.state === "running") setTimeout(poll, 500);
    };
    poll();
  });
  // Request / Response tabs on a delivery: a WAI-ARIA tablist, arrow keys move between tabs.
  document.querySelectorAll("[data-tabs]").forEach((container, group) => {
    const panels = [...container.querySelectorAll(".tab")];
    if (panels.length < 2) return;
    container.classList.add("js");
    const bar = document.createElement("div");
    bar.className = "tabbar";
    bar.setAttribute("role", "tablist");
    const buttons = panels.map((panel, i) => {
      const button = document.createElement("button");
      button.type = "button";
      button.id = `tab-${group}-${i}`;
      button.setAttribute("role", "tab");
      button.setAttribute("aria-controls", panel.id ||= `tabpanel-${group}-${i}`);
      button.textContent = panel.querySelector("h2").firstChild.textContent.trim();
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", button.id);
      bar.appendChild(button);
      return button;
    });
    const show = (index, focus) => {
      panels.forEach((panel, i) => panel.classList.toggle("active", i === index));
      buttons.forEach((button, i) => {
        const selected = i === index;
        button.classList.toggle("active", selected);
        button.setAttribute("aria-selected", String(selected));
        button.tabIndex = selected ? 0 : -1;
      });
      if (focus) buttons[index].focus();
    };
    buttons.forEach((button, i) => {
      button.addEventListener("click", () => show(i, false));
      button.addEventListener("keydown", (event) => {
        const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: buttons.length - 1 }[event.key];
        if (next === undefined) return;
        event.preventDefault();
        show((next + buttons.length) % buttons.length, true);
      });
    });
    container.prepend(bar);
    show(0, false);
  });
});
