// The thingmodel console: keeps the server-rendered pages current from the cloud's event
// stream and calls its JSON API (/thingmodel/v1). Hand-written, no dependencies, no build.
"use strict";

(() => {
  const API = "/thingmodel/v1";
  const TRACE_LIMIT = 500;
  const TIMEOUT = 5; // seconds a write or a command waits for the device

  // -- small helpers ------------------------------------------------------------------------
  const $ = (selector, root = document) => root.querySelector(selector);

  // An element with attributes and children (strings become text nodes: never HTML).
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A value as the tables show it (console.py's show() reads the same).
  function show(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  const muted = (text = "—") => el("span", { class: "muted" }, text);

  function ago(ts) {
    if (ts === null || ts === undefined) return "never";
    const seconds = Math.max(0, Math.floor(Date.now() / 1000 - ts));
    if (seconds < 5) return "just now";
    if (seconds < 60) return `${seconds} s ago`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return new Date(ts * 1000).toLocaleString();
  }

  function timeNode(ts) {
    if (ts === null || ts === undefined) return muted();
    const node = el("time", { datetime: new Date(ts * 1000).toISOString(), "data-ts": String(ts) });
    node.textContent = ago(ts);
    node.title = new Date(ts * 1000).toLocaleString();
    return node;
  }

  function clock(ts) {
    const d = new Date(ts * 1000);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function stateBadge(online) {
    const word = online === true ? "online" : online === false ? "offline" : "unknown";
    return el("span", { class: `state ${word}` }, word);
  }

  // Call fn at most once per `ms`, the last call winning.
  function debounce(fn, ms) {
    let timer = null;
    return () => {
      if (timer !== null) return;
      timer = setTimeout(() => {
        timer = null;
        fn();
      }, ms);
    };
  }

  // -- errors and the API -----------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
    get text() {
      return `${this.code}: ${this.message}`;
    }
  }

  function describeError(error) {
    return error instanceof ApiError ? error.text : `Error: ${error && error.message ? error.message : error}`;
  }

  // A visible, dismissible message at the top of the page (the same message once).
  function showError(what, error) {
    const text = `${what}: ${describeError(error)}`;
    const alerts = $("#alerts");
    for (const existing of alerts.children) if (existing.dataset.text === text) return;
    const note = el(
      "div",
      { class: "alert", "data-text": text },
      el("span", {}, text),
      el("button", { type: "button", class: "btn small", onclick: () => note.remove() }, "Dismiss"),
    );
    alerts.append(note);
  }

  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, options);
    } catch (error) {
      throw new ApiError(0, "NetworkError", `the cloud did not answer (${error.message})`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(response.status, err.code || `HTTP ${response.status}`, err.message || response.statusText);
    }
    if (data === null) throw new ApiError(response.status, "BadAnswer", "the answer is not JSON");
    return data;
  }

  // -- the event stream -------------------------------------------------------------------
  function setLive(state) {
    const live = $("#live");
    live.className = `live is-${state}`;
    live.textContent = { live: "live", reconnecting: "reconnecting…", closed: "disconnected" }[state];
  }

  // Open the stream (of one device, or all) and hand each entry to onEntry(kind, entry).
  function openStream(deviceId, onEntry, onOpen) {
    const query = deviceId ? `?device_id=${encodeURIComponent(deviceId)}` : "";
    let source = null;
    let retry = null;
    const connect = () => {
      source = new EventSource(`${API}/stream${query}`);
      for (const kind of ["up", "down", "online", "offline", "shadow", "upgrade", "missed"]) {
        source.addEventListener(kind, (event) => {
          let entry;
          try {
            entry = JSON.parse(event.data);
          } catch (error) {
            showError("The event stream sent something unreadable", error);
            return;
          }
          onEntry(kind, entry);
        });
      }
      source.onopen = () => {
        setLive("live");
        if (onOpen) onOpen();
      };
      source.onerror = () => {
        if (source.readyState === EventSource.CLOSED) {
          // refused (not a dropped connection, which EventSource retries itself): try again later
          setLive("closed");
          source.close();
          retry = setTimeout(connect, 3000);
        } else {
          setLive("reconnecting");
        }
      };
    };
    connect();
    window.addEventListener("pagehide", () => {
      clearTimeout(retry);
      if (source) source.close();
    });
  }

  // Relative times ("12 s ago") stay current.
  function tickTimes() {
    for (const node of document.querySelectorAll("time[data-ts]")) {
      const text = ago(Number(node.dataset.ts));
      if (node.textContent !== text) node.textContent = text;
      if (!node.title) node.title = new Date(Number(node.dataset.ts) * 1000).toLocaleString();
    }
  }

  // -- versions and upgrades (console.py's versions_text, upgrade_text, upgrade_row) ---------
  function versionsText(d) {
    if (d.fw_version && d.sw_version) return `fw ${d.fw_version} · sw ${d.sw_version}`;
    return d.fw_version || d.sw_version || "";
  }

  function upgradeText(u) {
    if (!u) return "";
    if (u.state === "failed") return `to ${u.version}: failed${u.failure ? ` (${u.failure})` : ""}`;
    if (u.percent !== null && u.percent !== undefined && (u.state === "downloading" || u.state === "installing")) {
      return `to ${u.version}: ${u.state} ${u.percent}%`;
    }
    return `to ${u.version}: ${u.state}`;
  }

  function upgradeRow(u) {
    const shown = u.percent === null || u.percent === undefined ? 0 : Math.trunc(u.percent);
    const number = u.percent === null || u.percent === undefined ? "—" : `${shown}%`;
    const bar = el("progress", { max: "100", value: String(shown), "aria-label": "progress" }, `${shown}%`);
    return el(
      "tr",
      { "data-task-id": u.task_id, "data-state": u.state },
      el("td", { class: "mono" }, u.task_id),
      el("td", { class: "mono" }, u.version),
      el("td", {}, u.kind),
      el(
        "td",
        { class: "upgrade-state" },
        el("span", { class: `ustate s-${u.state}` }, u.state + (u.failure ? ` (${u.failure})` : "")),
        u.reason ? el("span", { class: "reason" }, u.reason) : null,
      ),
      el("td", { class: "upgrade-progress" }, bar, " ", el("span", { class: "percent mono" }, number)),
      el("td", {}, timeNode(u.started)),
      el("td", {}, timeNode(u.ended)),
    );
  }

  // == home page ==========================================================================
  function homePage() {
    const tbody = $("#devices tbody");

    function row(d) {
      const href = `/devices/${encodeURIComponent(d.device_id)}`;
      const versions = versionsText(d);
      return el(
        "tr",
        { "data-device-id": d.device_id },
        el("td", {}, el("a", { href }, d.device_id)),
        el("td", {}, stateBadge(d.online)),
        el("td", { class: "versions mono" }, versions || muted()),
        el("td", { class: "upgrade", "data-state": d.upgrade ? d.upgrade.state : null }, d.upgrade ? upgradeText(d.upgrade) : muted()),
        el("td", { class: "last-seen" }, timeNode(d.last_seen)),
        el("td", { class: "connected-at" }, timeNode(d.connected_at)),
        el("td", { class: "address mono" }, d.address || muted()),
      );
    }

    async function refresh() {
      try {
        const { devices } = await api("GET", "/devices");
        tbody.replaceChildren(...devices.map(row));
        $("#device-count").textContent = String(devices.length);
        $("#online-count").textContent = String(devices.filter((d) => d.online).length);
        $("#no-devices").hidden = devices.length > 0;
      } catch (error) {
        showError("Could not list the devices", error);
      }
    }
    const later = debounce(refresh, 100);

    openStream(
      null,
      (kind, entry) => {
        if (kind === "missed" || !entry.device_id) return later();
        const known = tbody.querySelector(`tr[data-device-id="${CSS.escape(entry.device_id)}"]`);
        if (!known || kind === "online" || kind === "offline" || kind === "upgrade") return later();
        if (kind === "up") $(".last-seen", known).replaceChildren(timeNode(entry.time));
      },
      later, // after a (re)connect, catch up with what happened meanwhile
    );
  }

  // == device page ========================================================================
  function devicePage(deviceId) {
    const path = `/devices/${encodeURIComponent(deviceId)}`;
    let model = { source: "", services: [] };
    let device = null;
    const forms = new Map(); // service id -> its desired form's controller
    const built = new Map(); // service id -> the model its controls were built from
    let serial = 0; // for unique element ids

    // -- typed fields, from the model ---------------------------------------------------
    const NUMBER = new Set(["integer", "decimal", "timestamp"]);
    const JSONISH = new Set(["struct", "array", "object", "json", "string_list"]);

    // One labelled input for a property or parameter; .text() reads what the cloud parses.
    function field(spec, options = {}) {
      const id = `f${++serial}`;
      const hintId = `${id}-hint`;
      const type = spec.type || "string";
      let input;
      if (spec.enum && spec.enum.length) {
        input = el("select", { id, name: spec.name, "aria-describedby": hintId });
        if (options.optional) input.append(el("option", { value: "" }, "(not given)"));
        for (const choice of spec.enum) {
          const value = show(choice.value);
          const label = choice.label && choice.label !== value ? `${choice.label} (${value})` : value;
          input.append(el("option", { value }, label));
        }
      } else if (type === "boolean") {
        input = el("input", { id, name: spec.name, type: "checkbox", "aria-describedby": hintId });
      } else if (NUMBER.has(type)) {
        const step = spec.step || (type === "decimal" ? "any" : 1);
        input = el("input", {
          id, name: spec.name, type: "number", step: String(step), inputmode: type === "decimal" ? "decimal" : "numeric",
          min: spec.min !== undefined && spec.min !== null ? String(spec.min) : null,
          max: spec.max !== undefined && spec.max !== null ? String(spec.max) : null,
          "aria-describedby": hintId,
        });
      } else if (JSONISH.has(type)) {
        input = el("textarea", { id, name: spec.name, rows: "2", spellcheck: "false", placeholder: "JSON", "aria-describedby": hintId });
      } else {
        input = el("input", {
          id, name: spec.name, type: "text", autocomplete: "off", spellcheck: "false",
          maxlength: spec.max_length ? String(spec.max_length) : null, "aria-describedby": hintId,
        });
      }
      if (options.required && type !== "boolean") input.required = true;
      const hint = [spec.describe || type, spec.unit, spec.description].filter(Boolean).join(" · ");
      const problem = el("span", { class: "problem", id: `${id}-problem`, hidden: true });
      const label = el("label", { for: id }, el("span", { class: "mono" }, spec.name), spec.unit ? el("span", { class: "unit" }, spec.unit) : null);
      const wrap = el("div", { class: `field type-${type}` }, label, input, el("span", { class: "hint", id: hintId }, hint), problem);
      const isBox = input.type === "checkbox";
      return {
        name: spec.name,
        wrap,
        input,
        dirty: false,
        set(value) {
          if (isBox) input.checked = value === true || value === 1 || value === "true";
          else if (value === undefined || value === null) input.value = options.optional ? "" : input.value;
          else input.value = JSONISH.has(type) ? JSON.stringify(value) : show(value);
        },
        text() {
          return isBox ? String(input.checked) : input.value;
        },
        blank() {
          return !isBox && input.value.trim() === "";
        },
        complain(reason) {
          problem.textContent = reason || "";
          problem.hidden = !reason;
          if (reason) {
            input.setAttribute("aria-invalid", "true");
            input.setAttribute("aria-describedby", `${hintId} ${id}-problem`);
          } else {
            input.removeAttribute("aria-invalid");
            input.setAttribute("aria-describedby", hintId);
          }
        },
      };
    }

    // The outcome line of a form: a status the screen reader announces.
    function outcomeBox() {
      return el("div", { class: "outcome", role: "status", "aria-live": "polite" });
    }

    function say(box, kind, title, ...details) {
      box.className = `outcome ${kind}`;
      box.replaceChildren(el("strong", {}, title), ...details);
    }

    // -- the desired form of one service -------------------------------------------------
    function desiredForm(service) {
      const writable = service.properties.filter((p) => p.writable);
      if (!writable.length) return null;
      const fields = writable.map((p) => field(p));
      const box = outcomeBox();
      const submit = el("button", { type: "submit", class: "btn primary" }, "Set desired");
      const reset = el("button", { type: "button", class: "btn" }, "Reset");
      const form = el(
        "form",
        { class: "panel desired-form", "data-service-id": service.service_id },
        el("h3", {}, "Desired values"),
        el("div", { class: "fields" }, fields.map((f) => f.wrap)),
        el("div", { class: "actions" }, submit, reset),
        box,
      );
      const state = { current: {} };
      for (const f of fields) {
        const mark = () => {
          f.dirty = true;
          f.wrap.classList.add("dirty");
          f.complain("");
        };
        f.input.addEventListener("input", mark);
        f.input.addEventListener("change", mark);
      }
      const fill = (force) => {
        for (const f of fields) {
          if (f.dirty && !force) continue;
          f.dirty = false;
          f.wrap.classList.remove("dirty");
          f.set(f.name in state.current.desired ? state.current.desired[f.name] : state.current.reported[f.name]);
        }
      };
      reset.addEventListener("click", () => {
        for (const f of fields) f.complain("");
        fill(true);
        box.replaceChildren();
        box.className = "outcome";
      });
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const changed = fields.filter((f) => f.dirty);
        if (!changed.length) {
          say(box, "info", "Nothing to send:", " change a value first.");
          return;
        }
        const text = {};
        for (const f of changed) text[f.name] = f.text();
        submit.disabled = true;
        say(box, "busy", "Sending…");
        try {
          const answer = await api("POST", `${path}/desired`, { service_id: service.service_id, text, timeout: TIMEOUT });
          if (answer.ok) {
            say(box, "ok", "Applied.", ` The device took ${Object.keys(text).join(", ")} (request ${answer.request_id}).`);
            for (const f of changed) {
              f.dirty = false;
              f.wrap.classList.remove("dirty");
            }
          } else if (answer.pending) {
            say(box, "pending", "Pending.", " The device has not answered; the value waits in the shadow and is applied when it connects.");
          } else {
            const reasons = Object.entries(answer.errors || {});
            say(box, "refused", "Refused by the device:", el("ul", {}, reasons.map(([name, reason]) => el("li", {}, el("span", { class: "mono" }, name), `: ${reason}`))));
            for (const [name, reason] of reasons) {
              const f = fields.find((x) => x.name === name);
              if (f) f.complain(reason);
            }
          }
        } catch (error) {
          say(box, "refused", "Not sent.", ` ${describeError(error)}`);
          const f = changed.find((x) => error.message && error.message.startsWith(`${x.name}: `));
          if (f) f.complain(error.message.slice(f.name.length + 2));
        } finally {
          submit.disabled = false;
        }
      });
      return {
        form,
        update(current) {
          state.current = current;
          fill(false);
        },
      };
    }

    // -- a command's form ----------------------------------------------------------------
    function commandForm(service, command) {
      const fields = (command.params || []).map((p) => field(p, { optional: !p.required, required: p.required }));
      const box = outcomeBox();
      const submit = el("button", { type: "submit", class: "btn primary" }, `Send ${command.name}`);
      const form = el(
        "form",
        { class: "panel command-form", "data-command": command.name },
        el("h3", {}, el("span", { class: "kicker" }, "Command"), " ", el("span", { class: "mono" }, command.name)),
        command.description ? el("p", { class: "hint" }, command.description) : null,
        fields.length ? el("div", { class: "fields" }, fields.map((f) => f.wrap)) : el("p", { class: "hint" }, "No parameters."),
        el("div", { class: "actions" }, submit),
        box,
      );
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const text = {};
        for (const f of fields) {
          f.complain("");
          if (!f.blank()) text[f.name] = f.text();
        }
        await send(service.service_id, command.name, { text }, submit, box, fields);
      });
      return form;
    }

    // A command of a service the model knows no commands of: name and JSON parameters.
    function freeCommandForm(service) {
      const nameId = `f${++serial}`;
      const paramsId = `f${++serial}`;
      const name = el("input", { id: nameId, type: "text", required: true, autocomplete: "off", spellcheck: "false" });
      const params = el("textarea", { id: paramsId, rows: "2", spellcheck: "false", placeholder: '{"duration": 3}' });
      const box = outcomeBox();
      const submit = el("button", { type: "submit", class: "btn primary" }, "Send command");
      const form = el(
        "form",
        { class: "panel command-form free" },
        el("h3", {}, "Command"),
        el(
          "div",
          { class: "fields" },
          el("div", { class: "field" }, el("label", { for: nameId }, "Name"), name),
          el("div", { class: "field" }, el("label", { for: paramsId }, "Parameters (JSON object)"), params),
        ),
        el("div", { class: "actions" }, submit),
        box,
      );
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        let values = {};
        if (params.value.trim()) {
          try {
            values = JSON.parse(params.value);
          } catch (error) {
            say(box, "refused", "Not sent.", ` The parameters are not JSON: ${error.message}`);
            return;
          }
          if (typeof values !== "object" || values === null || Array.isArray(values)) {
            say(box, "refused", "Not sent.", " The parameters must be a JSON object.");
            return;
          }
        }
        await send(service.service_id, name.value.trim(), { params: values }, submit, box, []);
      });
      return form;
    }

    async function send(serviceId, name, values, submit, box, fields) {
      submit.disabled = true;
      say(box, "busy", "Waiting for the device…");
      try {
        const answer = await api("POST", `${path}/commands`, { service_id: serviceId, name, timeout: TIMEOUT, ...values });
        if (answer.timed_out) {
          say(box, "pending", "No answer.", ` The device did not answer within ${TIMEOUT} s (request ${answer.request_id}).`);
        } else {
          say(
            box,
            answer.ok ? "ok" : "refused",
            `code ${answer.code}`,
            answer.ok ? " · done" : " · failed",
            el("pre", { class: "response mono" }, JSON.stringify(answer.params, null, 2)),
          );
        }
      } catch (error) {
        say(box, "refused", "Not sent.", ` ${describeError(error)}`);
        const f = fields.find((x) => error.message && error.message.startsWith(`${x.name}: `));
        if (f) f.complain(error.message.slice(f.name.length + 2));
      } finally {
        submit.disabled = false;
      }
    }

    // -- the services' cards -------------------------------------------------------------
    function card(serviceId) {
      const found = document.querySelector(`#services .service[data-service-id="${CSS.escape(serviceId)}"]`);
      if (found) return found;
      $("#services > .empty-note")?.remove();
      // the same markup the server renders a card with
      const made = $("#service-template").content.firstElementChild.cloneNode(true);
      made.dataset.serviceId = serviceId;
      made.setAttribute("aria-label", `Service ${serviceId}`);
      $(".service-name", made).textContent = serviceId;
      $("caption", made).textContent = `Shadow of ${serviceId}`;
      $("#services").append(made);
      return made;
    }

    function cell(kind, values, name, labels) {
      if (!(name in values)) return el("td", { class: `${kind} mono` }, muted());
      const text = show(values[name]);
      const label = labels && labels[text];
      return el("td", { class: `${kind} mono` }, text, label && label !== text ? [" ", el("span", { class: "label" }, label)] : null);
    }

    function serviceModel(serviceId) {
      return model.services.find((s) => s.service_id === serviceId) || { service_id: serviceId, properties: [], commands: [] };
    }

    function renderShadow(serviceId, state) {
      const spec = serviceModel(serviceId);
      const node = card(serviceId);
      const names = spec.properties.map((p) => p.name);
      for (const name of [...Object.keys(state.reported), ...Object.keys(state.desired)]) if (!names.includes(name)) names.push(name);
      const labels = {};
      const units = {};
      for (const p of spec.properties) {
        units[p.name] = p.unit;
        if (p.enum) labels[p.name] = Object.fromEntries(p.enum.map((e) => [show(e.value), e.label]));
      }
      const rows = names.map((name) =>
        el(
          "tr",
          { "data-property": name, class: name in state.delta ? "has-delta" : null },
          el("th", { scope: "row", class: "mono" }, name, units[name] ? [" ", el("span", { class: "unit" }, units[name])] : null),
          cell("reported", state.reported, name, labels[name]),
          cell("desired", state.desired, name, labels[name]),
          cell("delta", state.delta, name, labels[name]),
        ),
      );
      const tbody = $("tbody", node);
      tbody.replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: "4" }, "Nothing reported or desired yet."))]));
      $(".version-number", node).textContent = state.version === undefined ? "—" : String(state.version);
    }

    function renderControls() {
      for (const spec of model.services) {
        // rebuilt only when the service's model changes (a derived one grows): edits stay
        const signature = JSON.stringify(spec);
        if (built.get(spec.service_id) === signature) continue;
        built.set(spec.service_id, signature);
        const node = card(spec.service_id);
        const desired = desiredForm(spec);
        forms.set(spec.service_id, desired);
        $(".controls", node).replaceChildren(...(desired ? [desired.form] : []));
        const commands = (spec.commands || []).map((command) => commandForm(spec, command));
        if (!commands.length && model.source === "seen values") commands.push(freeCommandForm(spec));
        $(".commands", node).replaceChildren(...commands);
      }
    }

    function empty() {
      return { reported: {}, desired: {}, delta: {}, version: undefined };
    }

    function render() {
      if (!device) return;
      const d = device.device;
      $("#device-state").replaceChildren(stateBadge(d.online));
      $("#last-seen").replaceChildren(timeNode(d.last_seen));
      $("#connected-at").replaceChildren(timeNode(d.connected_at));
      $("#address").replaceChildren(d.address || muted());
      $("#fw-version").replaceChildren(d.fw_version || muted());
      $("#sw-version").replaceChildren(d.sw_version || muted());
      const ids = model.services.map((s) => s.service_id);
      for (const sid of Object.keys(device.services)) if (!ids.includes(sid)) ids.push(sid);
      for (const sid of ids) {
        const state = { ...empty(), ...(device.services[sid] || {}) };
        renderShadow(sid, state);
        const form = forms.get(sid);
        if (form) form.update(state);
      }
    }

    async function loadModel() {
      model = await api("GET", `/model?device_id=${encodeURIComponent(deviceId)}`);
    }

    async function refresh() {
      try {
        device = await api("GET", path);
        if (model.source === "seen values") {
          await loadModel();
          renderControls();
        }
        render();
      } catch (error) {
        showError("Could not refresh the device", error);
      }
    }
    const refreshSoon = debounce(refresh, 50);

    // -- the trace -----------------------------------------------------------------------
    const trace = {
      rows: $("#trace-rows"),
      filter: $("#trace-filter"),
      pause: $("#trace-pause"),
      count: $("#trace-count"),
      empty: $("#trace-empty"),
      paused: false,
      held: [], // entries not drawn yet: paused, or waiting for the next draw (at most TRACE_LIMIT)
      heldCount: 0, // entries that arrived while paused
      shown: 0,
      lastSeq: 0,
    };

    function traceMatches(row) {
      const needle = trace.filter.value.trim().toLowerCase();
      return !needle || row.dataset.search.includes(needle);
    }

    // The topic with its part up to the device id dimmed: what differs stands out.
    function topicParts(topic) {
      const mark = `/${deviceId}/`;
      const cut = topic.indexOf(mark);
      if (cut < 0) return topic;
      const end = cut + mark.length;
      return [el("span", { class: "topic-base" }, topic.slice(0, end)), topic.slice(end)];
    }

    function traceRow(entry) {
      const dir = { up: "↑", down: "↓", online: "●", offline: "○" }[entry.kind];
      const what = { up: "uplink: device to cloud", down: "downlink: cloud to device", online: "connected", offline: "disconnected" }[entry.kind];
      const topic = entry.topic || (entry.kind === "online" ? "connected" : "disconnected");
      const payload = entry.payload;
      const row = el(
        "tr",
        { class: `k-${entry.kind}`, "data-seq": String(entry.seq), "data-kind": entry.kind },
        el("td", { class: "t-time mono" }, el("time", { datetime: new Date(entry.time * 1000).toISOString(), title: new Date(entry.time * 1000).toLocaleString() }, clock(entry.time))),
        el("td", { class: "t-dir", title: what }, el("span", { "aria-hidden": "true" }, dir), el("span", { class: "visually-hidden" }, what)),
        el("td", { class: "t-topic mono", title: topic }, topicParts(topic)),
        el("td", { class: "t-payload mono", title: `${entry.size} bytes` }, payload),
      );
      row.dataset.search = `${entry.kind} ${topic} ${entry.payload}`.toLowerCase();
      row.addEventListener("click", () => row.classList.toggle("open"));
      row.hidden = !traceMatches(row);
      return row;
    }

    function traceCount() {
      const total = trace.rows.children.length;
      const shown = trace.shown;
      let text = shown === total ? `${total} message${total === 1 ? "" : "s"}` : `${shown} of ${total} shown`;
      if (trace.paused) text += ` · paused, ${trace.heldCount} new`;
      trace.count.textContent = text;
      trace.empty.hidden = shown > 0;
      trace.empty.textContent = total ? "No message matches the filter." : "Waiting for messages…";
      trace.pause.textContent = trace.paused ? `Resume (${trace.heldCount} new)` : "Pause";
    }

    function recount() {
      let shown = 0;
      for (const row of trace.rows.children) if (!row.hidden) shown += 1;
      trace.shown = shown;
      traceCount();
    }

    // Show what is held, newest first, keeping the last TRACE_LIMIT rows.
    function traceShow() {
      const held = trace.held.splice(0);
      trace.heldCount = 0;
      if (held.length) {
        trace.rows.prepend(...held.map(traceRow).reverse());
        while (trace.rows.children.length > TRACE_LIMIT) trace.rows.lastElementChild.remove();
      }
      recount();
    }
    // a burst of messages is drawn in one go
    const traceShowSoon = debounce(() => {
      if (!trace.paused) traceShow();
    }, 40);

    function traceAdd(entries) {
      const fresh = entries.filter((e) => e.seq > trace.lastSeq && e.kind !== "shadow");
      if (!fresh.length) return;
      trace.lastSeq = Math.max(trace.lastSeq, ...fresh.map((e) => e.seq));
      trace.held.push(...fresh);
      if (trace.held.length > TRACE_LIMIT) trace.held.splice(0, trace.held.length - TRACE_LIMIT);
      if (trace.paused) {
        trace.heldCount += fresh.length;
        traceCount();
      } else {
        traceShowSoon();
      }
    }

    trace.filter.addEventListener("input", () => {
      for (const row of trace.rows.children) row.hidden = !traceMatches(row);
      recount();
    });
    trace.pause.addEventListener("click", () => {
      traceShow(); // what arrived before the click is not "new"
      trace.paused = !trace.paused;
      trace.pause.setAttribute("aria-pressed", String(trace.paused));
      trace.pause.classList.toggle("active", trace.paused);
      traceCount();
    });
    $("#trace-clear").addEventListener("click", () => {
      trace.rows.replaceChildren();
      trace.held = [];
      trace.heldCount = 0;
      recount();
    });

    // -- upgrades ------------------------------------------------------------------------
    // one row per upgrade, newest first; a change replaces its row (older revisions are ignored)
    function showUpgrade(u) {
      const rows = $("#upgrade-rows");
      const found = rows.querySelector(`tr[data-task-id="${CSS.escape(u.task_id)}"]`);
      if (found && Number(found.dataset.revision || -1) > u.revision) return;
      const made = upgradeRow(u);
      made.dataset.revision = String(u.revision);
      if (found) found.replaceWith(made);
      else rows.prepend(made);
      $("#no-upgrades").hidden = true;
    }

    async function loadUpgrades() {
      try {
        const { upgrades } = await api("GET", `${path}/upgrades`);
        for (const u of upgrades) showUpgrade(u);
      } catch (error) {
        showError("Could not load the upgrades", error);
      }
    }

    // -- activity ------------------------------------------------------------------------
    function activityItem(kind, item) {
      if (kind === "messages") {
        return el("li", {}, item.time ? el("span", { class: "when mono" }, clock(item.time)) : null, el("span", { class: "mono body" }, item.payload));
      }
      const { time, service_id: sid, event_type: type, params, event_time: at, ...rest } = item;
      const head = [sid, type].filter(Boolean).join(" · ");
      return el(
        "li",
        {},
        time || at ? el("span", { class: "when mono" }, time ? clock(time) : String(at)) : null,
        head ? el("span", { class: "what mono" }, head) : null,
        el("span", { class: "mono body" }, JSON.stringify(params !== undefined ? params : rest)),
      );
    }

    async function loadActivity() {
      try {
        const found = await api("GET", `${path}/activity`);
        for (const kind of ["messages", "events", "logs", "info"]) {
          const items = found[kind] || [];
          $(`#count-${kind}`).textContent = String(items.length);
          const list = $(`#activity-${kind}`);
          list.replaceChildren(...(items.length ? items.slice().reverse().map((item) => activityItem(kind, item)) : [el("li", { class: "muted" }, "None yet.")]));
        }
      } catch (error) {
        showError("Could not load the activity", error);
      }
    }
    const activitySoon = debounce(loadActivity, 300);
    $("#activity-refresh").addEventListener("click", loadActivity);

    // -- wiring --------------------------------------------------------------------------
    let ready = false;
    const early = [];
    openStream(
      deviceId,
      (kind, entry) => {
        if (kind === "missed") {
          showError("The page fell behind", new Error(`${entry.missed} trace entries were skipped`));
          return;
        }
        if (kind === "upgrade") {
          let upgrade;
          try {
            upgrade = JSON.parse(entry.payload);
          } catch (error) {
            showError("The event stream sent an unreadable upgrade", error);
            return;
          }
          showUpgrade(upgrade);
          if (upgrade.terminal) refreshSoon(); // the versions may have changed
          return;
        }
        if (!ready) {
          early.push(entry);
          return;
        }
        traceAdd([entry]);
        if (kind === "shadow" || kind === "online" || kind === "offline") {
          refreshSoon();
          activitySoon();
        }
      },
      () => {
        if (ready) {
          refreshSoon();
          activitySoon();
          loadUpgrades();
        }
      },
    );

    (async () => {
      try {
        await loadModel();
        renderControls();
      } catch (error) {
        showError("Could not load the product model", error);
      }
      await refresh();
      try {
        const { entries } = await api("GET", `/trace?device_id=${encodeURIComponent(deviceId)}&limit=${TRACE_LIMIT}`);
        traceAdd(entries);
      } catch (error) {
        showError("Could not load the trace", error);
      }
      ready = true;
      const meanwhile = early.splice(0);
      traceAdd(meanwhile);
      if (meanwhile.some((e) => e.kind !== "up" && e.kind !== "down")) refreshSoon();
      await loadActivity();
      document.body.dataset.ready = "true";
    })();
  }

  // == a device the cloud does not know (yet) =============================================
  function unknownPage(deviceId) {
    // the page comes alive when the device first connects or reports
    openStream(deviceId, (kind) => {
      if (kind !== "missed") window.location.reload();
    });
  }

  // -- start -------------------------------------------------------------------------------
  function start() {
    const { page, deviceId } = document.body.dataset;
    setInterval(tickTimes, 1000);
    tickTimes();
    if (page === "home") homePage();
    else if (page === "device") devicePage(deviceId);
    else if (page === "unknown") unknownPage(deviceId);
  }

  start();
})();
