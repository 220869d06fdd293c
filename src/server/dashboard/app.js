// exwatch dashboard: reads /api/v1/status and /api/v1/events of the page's own origin and
// renders them. Every string from the API (exchange names, messages, triage text, errors) is
// put in the page with textContent or as an attribute value, never parsed as markup.
"use strict";

(function () {
  const REFRESH_MS = 5000;
  const PAGE = 100;
  const MAX_LIMIT = 500;
  // Relative to the page, so exwatch also works behind a proxy under a sub-path.
  const API = new URL("api/v1/", document.baseURI);

  const state = {
    paused: false,
    timer: null,
    events: [],
    nextCursor: null,
    wanted: PAGE, // how many events the user has asked to see (grows with "load more")
    lastOk: null,
    failingSince: null,
    exchanges: [],
  };

  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers (text only) ----
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  // A CSS class fragment from a value the API sent: only known words pass.
  function word(value, allowed, fallback) {
    return allowed.indexOf(value) >= 0 ? value : fallback;
  }

  // ---- formatting ----
  const pad = (n) => String(n).padStart(2, "0");
  function utc(ms) {
    const d = new Date(ms);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }
  function local(ms) {
    const d = new Date(ms);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " local";
  }
  function timeNode(ms) {
    const t = el("time", "when");
    if (typeof ms !== "number") {
      t.textContent = "—";
      return t;
    }
    t.dateTime = new Date(ms).toISOString();
    t.appendChild(el("span", "utc", utc(ms)));
    t.appendChild(el("span", "local", local(ms) + " · " + ago(ms)));
    return t;
  }
  function ago(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m ago";
    return Math.floor(s / 86400) + "d ago";
  }
  function msText(v) {
    if (typeof v !== "number") return "—";
    return v >= 100 ? Math.round(v) + "" : v.toFixed(1);
  }
  function pct(v) {
    if (typeof v !== "number") return "—";
    if (v === 0) return "0%";
    return v < 0.001 ? "<0.1%" : (v * 100).toFixed(v < 0.1 ? 1 : 0) + "%";
  }

  const SEVERITIES = ["info", "warning", "critical"];
  const BREAKER = {
    closed: ["up", "closed"],
    half_open: ["recovering", "half-open"],
    open: ["down", "open"],
    unknown: ["unknown", "no probe yet"],
  };

  function badge(text, cls) {
    return el("span", "badge " + cls, text);
  }
  function severityBadge(sev) {
    return badge(sev || "?", "sev-" + word(sev, SEVERITIES, "unknown"));
  }

  // ---- fetching ----
  async function getJson(url) {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 8000);
    try {
      const r = await fetch(url, { signal: ctl.signal, headers: { Accept: "application/json" } });
      if (!r.ok) {
        let why = "HTTP " + r.status;
        try {
          const body = await r.json();
          if (body && body.message) why += ": " + body.message;
        } catch (_) { /* not JSON */ }
        throw new Error(why);
      }
      return await r.json();
    } finally {
      clearTimeout(t);
    }
  }

  function filterParams() {
    const p = new URLSearchParams();
    for (const name of FILTERS) {
      const v = $("f-" + name).value;
      if (v) p.set(name, v);
    }
    return p;
  }

  function eventsUrl(limit, cursor) {
    const p = filterParams();
    p.set("limit", String(limit));
    if (cursor) p.set("cursor", cursor);
    return new URL("events?" + p.toString(), API);
  }

  // Reloads what is on screen: the status and as many events as the user has asked for.
  async function refresh() {
    try {
      const [status, events] = await Promise.all([
        getJson(new URL("status", API)),
        getJson(eventsUrl(Math.min(state.wanted, MAX_LIMIT), null)),
      ]);
      renderStatus(status);
      state.events = Array.isArray(events.events) ? events.events : [];
      state.nextCursor = events.next_cursor || null;
      renderEvents();
      ok();
    } catch (e) {
      failed(e);
    }
  }

  async function loadMore() {
    if (!state.nextCursor) return;
    const btn = $("more");
    btn.disabled = true;
    try {
      const page = await getJson(eventsUrl(PAGE, state.nextCursor));
      state.events = state.events.concat(page.events || []);
      state.nextCursor = page.next_cursor || null;
      state.wanted = state.events.length;
      renderEvents();
      ok();
    } catch (e) {
      failed(e);
    } finally {
      btn.disabled = false;
    }
  }

  function ok() {
    state.lastOk = Date.now();
    state.failingSince = null;
    $("offline").hidden = true;
    document.body.classList.remove("stale");
    showUpdated();
  }

  function failed(e) {
    if (!state.failingSince) state.failingSince = Date.now();
    const b = $("offline");
    clear(b);
    b.appendChild(el("strong", null, "Cannot reach the exwatch API"));
    b.appendChild(el("span", null, " at " + API.href + " (" + (e && e.message ? e.message : e) + "). "));
    b.appendChild(el("span", null, state.lastOk
      ? "Showing data from " + utc(state.lastOk) + " (" + local(state.lastOk) + "); retrying every " + REFRESH_MS / 1000 + " s."
      : "Nothing loaded yet; retrying every " + REFRESH_MS / 1000 + " s."));
    b.hidden = false;
    document.body.classList.add("stale");
    showUpdated();
  }

  function showUpdated() {
    const u = $("updated");
    clear(u);
    if (state.lastOk) {
      u.appendChild(el("span", null, "Updated " + utc(state.lastOk)));
      u.appendChild(el("span", "local", " (" + local(state.lastOk) + ")"));
    } else {
      u.textContent = "Not loaded";
    }
    if (state.paused) u.appendChild(el("span", "badge paused", "auto-refresh paused"));
  }

  // ---- status: tiles and open anomalies ----
  function renderStatus(status) {
    if (status.region) $("region").textContent = "region " + status.region;
    const exchanges = Array.isArray(status.exchanges) ? status.exchanges : [];
    const tiles = $("tiles");
    clear(tiles);
    if (exchanges.length === 0) tiles.appendChild(el("p", "empty", "No exchange is configured."));
    const streams = Array.isArray(status.streams) ? status.streams : [];
    for (const x of exchanges) {
      tiles.appendChild(tile(x, streams.filter((st) => st.exchange === x.exchange), status.cluster));
    }
    renderOpen(exchanges);
    updateExchangeFilter(exchanges.map((x) => x.exchange));
  }

  // [cluster]: each vantage's verdict on exchange `name`, and the quorum's.
  function vantagesRow(name, cluster) {
    const row = el("p", "vantages");
    if (!cluster.shared) {
      row.textContent = "vantages: shared state unavailable";
      return row;
    }
    const q = (cluster.exchanges || []).find((e) => e.exchange === name);
    if (q) {
      const b = badge(q.state, "quorum " + q.state);
      b.title = "quorum " + cluster.quorum + (q.down_from.length ? "; down from " + q.down_from.join(", ") : "");
      row.appendChild(b);
    }
    for (const v of cluster.vantages || []) {
      const verdict = (v.exchanges || []).find((e) => e.exchange === name);
      const state = !v.fresh ? "stale" : !v.self_healthy ? "unknown" : verdict ? verdict.state : "unknown";
      row.appendChild(el("span", "vantage vantage-" + state, v.region + " " + state));
    }
    return row;
  }

  function tile(x, streams, cluster) {
    const breaker = word(x.breaker, Object.keys(BREAKER), "unknown");
    const anomalies = Array.isArray(x.open_anomalies) ? x.open_anomalies : [];
    const worst = anomalies.reduce((w, a) => Math.max(w, SEVERITIES.indexOf(a.severity)), -1);
    const t = el("article", "tile breaker-" + breaker + (worst >= 0 ? " has-" + SEVERITIES[worst] : ""));
    t.dataset.exchange = x.exchange;
    const head = el("header", "tile-head");
    head.appendChild(el("h3", "exchange", x.exchange));
    const label = BREAKER[breaker];
    const b = badge(label[0], "breaker " + breaker);
    b.title = "circuit breaker " + label[1];
    head.appendChild(b);
    if (x.maintenance) head.appendChild(badge("maintenance", "maint"));
    if (anomalies.length) {
      head.appendChild(badge(anomalies.length + " open", "sev-" + SEVERITIES[Math.max(worst, 0)]));
    }
    t.appendChild(head);

    if (cluster) t.appendChild(vantagesRow(x.exchange, cluster));
    const endpoints = Array.isArray(x.endpoints) ? x.endpoints : [];
    if (endpoints.length === 0 && streams.length === 0) t.appendChild(el("p", "empty", "No endpoints."));
    for (const ep of endpoints) t.appendChild(endpointRow(ep));
    for (const st of streams) t.appendChild(streamRow(st));
    return t;
  }

  // A market-data stream: its state, message rate, lag, silence and gaps.
  function streamRow(st) {
    const row = el("div", "endpoint stream");
    const top = el("div", "ep-top");
    top.appendChild(el("span", "ep-name", st.endpoint + (st.source === "engine" ? " · engine stream" : " · stream")));
    const state = String(st.state || "unknown") + (st.connected ? "" : ", disconnected");
    const oc = el("span", "outcome " + (st.state === "ok" && st.connected ? "good" : "bad"), state);
    oc.title = "stale after " + msText(st.stale_after_ms) + " ms" +
      (typeof st.cadence_ms === "number" ? ", cadence " + msText(st.cadence_ms) + " ms" : "");
    top.appendChild(oc);
    row.appendChild(top);
    const stats = el("dl", "stats");
    const stat = (k, v, cls) => {
      const d = el("div", cls || "");
      d.appendChild(el("dt", null, k));
      d.appendChild(el("dd", null, v));
      stats.appendChild(d);
    };
    stat("msg/s", typeof st.message_rate === "number" ? st.message_rate.toFixed(1) : "—");
    stat("lag", typeof st.lag_ms === "number" ? msText(st.lag_ms) + " ms" : "—");
    stat("silent", msText(st.silence_ms) + " ms", st.state === "stale" ? "err" : "");
    stat("gaps", String(st.gaps || 0), st.gaps > 0 ? "err" : "");
    row.appendChild(stats);
    return row;
  }

  function endpointRow(ep) {
    const r = ep.recent || {};
    const row = el("div", "endpoint");
    const top = el("div", "ep-top");
    top.appendChild(el("span", "ep-name", ep.endpoint));
    const outcome = ep.last_outcome;
    const oc = el("span", "outcome " + (outcome === "ok" ? "good" : outcome ? "bad" : "none"),
      outcome ? outcome.replace(/_/g, " ") + (ep.last_status ? " " + ep.last_status : "") : "no probe");
    if (typeof ep.last_probe_at === "number") {
      oc.title = "last probe " + utc(ep.last_probe_at) + ", " + msText(ep.last_latency_ms) + " ms";
    }
    top.appendChild(oc);
    row.appendChild(top);

    const stats = el("dl", "stats");
    const stat = (k, v, cls) => {
      const d = el("div", cls || "");
      d.appendChild(el("dt", null, k));
      d.appendChild(el("dd", null, v));
      stats.appendChild(d);
    };
    const ms = (v) => (typeof v === "number" ? msText(v) + " ms" : "—");
    stat("p50", ms(r.p50_ms));
    stat("p90", ms(r.p90_ms));
    stat("p99", ms(r.p99_ms));
    stat("errors", pct(r.error_rate), r.error_rate > 0 ? "err" : "");
    row.appendChild(stats);
    row.appendChild(chart(Array.isArray(ep.chart) ? ep.chart : [], ep.endpoint));
    return row;
  }

  // The last hour as a sparkline: p90 band, p50 line, minutes with errors as red bars.
  function chart(points, name) {
    const W = 300, H = 54, PAD = 3;
    const s = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img", preserveAspectRatio: "none" });
    const title = svg("title", {});
    const withData = points.filter((p) => typeof p.p50_ms === "number");
    title.textContent = name + ": latency over the last hour" +
      (withData.length ? ", latest p50 " + msText(withData[withData.length - 1].p50_ms) + " ms" : ", no samples");
    s.appendChild(title);
    s.appendChild(svg("line", { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: "axis" }));
    if (!points.some((p) => p.count > 0)) {
      const none = svg("text", { x: W / 2, y: H / 2 + 4, class: "none", "text-anchor": "middle" });
      none.textContent = "no samples in the last hour";
      s.appendChild(none);
      return s;
    }

    const n = Math.max(points.length, 2);
    const x = (i) => (i / (n - 1)) * W;
    let max = 0;
    for (const p of points) {
      const v = typeof p.p90_ms === "number" ? p.p90_ms : p.p50_ms;
      if (typeof v === "number" && v > max) max = v;
    }
    max = max > 0 ? max * 1.1 : 1;
    const y = (v) => H - PAD - (v / max) * (H - 2 * PAD);

    points.forEach((p, i) => {
      if (p.errors > 0) {
        const share = p.count > 0 ? Math.min(1, p.errors / p.count) : 1;
        const h = Math.max(4, share * H);
        s.appendChild(svg("rect", { x: x(i) - 1.5, y: H - h, width: 3, height: h, class: "err-bar" }));
      }
    });

    // Runs of consecutive minutes with samples, so gaps show as gaps.
    let band = [], line = [];
    const flush = () => {
      if (band.length > 1) {
        const upper = band.map((q) => q[0] + "," + q[1]);
        const lower = band.slice().reverse().map((q) => q[0] + "," + q[2]);
        s.appendChild(svg("polygon", { points: upper.concat(lower).join(" "), class: "band" }));
      }
      if (line.length > 1) s.appendChild(svg("polyline", { points: line.join(" "), class: "p50" }));
      else if (line.length === 1) {
        const [cx, cy] = line[0].split(",");
        s.appendChild(svg("circle", { cx: cx, cy: cy, r: 1.8, class: "dot" }));
      }
      band = [];
      line = [];
    };
    points.forEach((p, i) => {
      if (typeof p.p50_ms !== "number") return flush();
      const px = x(i).toFixed(1), p50 = y(p.p50_ms).toFixed(1);
      const p90 = y(typeof p.p90_ms === "number" ? p.p90_ms : p.p50_ms).toFixed(1);
      band.push([px, p90, p50]);
      line.push(px + "," + p50);
    });
    flush();
    const top = svg("text", { x: 2, y: 10, class: "scale" });
    top.textContent = msText(max / 1.1) + " ms";
    s.appendChild(top);
    return s;
  }

  function renderOpen(exchanges) {
    const list = $("open");
    clear(list);
    const all = [];
    for (const x of exchanges) {
      for (const a of x.open_anomalies || []) all.push(Object.assign({ exchange: x.exchange }, a));
    }
    all.sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || a.since - b.since);
    $("open-count").textContent = all.length ? String(all.length) : "";
    if (all.length === 0) {
      list.appendChild(el("li", "empty calm", "None. All quiet."));
      return;
    }
    for (const a of all) {
      const li = el("li", "open-item sev-border-" + word(a.severity, SEVERITIES, "unknown"));
      const head = el("div", "open-head");
      head.appendChild(severityBadge(a.severity));
      head.appendChild(el("span", "series", a.exchange + " / " + a.endpoint + " / " + a.metric));
      if (a.acked) head.appendChild(badge("acked", "acked"));
      if (a.silenced) head.appendChild(badge("silenced", "silenced"));
      li.appendChild(head);
      li.appendChild(el("div", "open-title", a.title));
      const meta = el("div", "open-meta muted");
      meta.appendChild(el("span", null, "since "));
      meta.appendChild(timeNode(a.since));
      meta.appendChild(el("span", null, " · detector " + a.detector));
      li.appendChild(meta);
      list.appendChild(li);
    }
  }

  function updateExchangeFilter(names) {
    const sel = $("f-exchange");
    const key = names.join("\n");
    if (sel.dataset.names === key) return;
    sel.dataset.names = key;
    const current = sel.value;
    clear(sel);
    const all = el("option", null, "all");
    all.value = "";
    sel.appendChild(all);
    for (const n of names) {
      const o = el("option", null, n);
      o.value = n;
      sel.appendChild(o);
    }
    if (current && names.indexOf(current) < 0) {
      const o = el("option", null, current + " (not in status)");
      o.value = current;
      sel.appendChild(o);
    }
    sel.value = current;
  }

  // ---- events table ----
  const COLUMNS = ["Time", "Exchange", "Endpoint", "Metric", "Severity", "Detector", "Message", "Delivery"];

  function renderEvents() {
    const body = $("event-rows");
    clear(body);
    if (state.events.length === 0) {
      const tr = el("tr");
      const td = el("td", "empty", "No events match these filters.");
      td.colSpan = COLUMNS.length;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    const incidentOf = memberIncidents(state.events);
    for (const ev of state.events) body.appendChild(eventRow(ev, incidentOf));
    $("more").hidden = !state.nextCursor;
    $("shown").textContent = state.events.length
      ? state.events.length + " event" + (state.events.length === 1 ? "" : "s") + " shown" + (state.nextCursor ? ", more available" : "")
      : "";
  }

  function cell(tr, i, content) {
    const td = el("td");
    td.dataset.label = COLUMNS[i];
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content === null || content === undefined ? "—" : String(content);
    tr.appendChild(td);
    return td;
  }

  // The incident key of each per-series alert listed by a group message on screen, by id.
  function memberIncidents(events) {
    const of = new Map();
    for (const ev of events) {
      const g = groupOf(ev);
      if (!g) continue;
      for (const m of g.alerts) if (m && typeof m.id === "string" && !of.has(m.id)) of.set(m.id, g.key);
    }
    return of;
  }

  // The group object of a group message, or null (per-series alerts, odd answers).
  function groupOf(ev) {
    const g = ev.group;
    if (!g || typeof g !== "object" || typeof g.key !== "string") return null;
    return { key: g.key, update: g.update, alerts: Array.isArray(g.alerts) ? g.alerts : [] };
  }

  // A group message's incident: its key, what it says, and its members, listed under a
  // summary the user can open. Every string is text.
  function incidentBlock(g) {
    const box = el("div", "incident");
    const head = el("div", "incident-head");
    head.appendChild(el("span", "incident-label", "Incident"));
    head.appendChild(el("span", "incident-key", g.key));
    head.appendChild(badge(word(g.update, ["opened", "updated", "escalated", "resolved"], "other"), "update"));
    box.appendChild(head);
    const details = el("details", "group-members");
    const n = g.alerts.length;
    details.appendChild(el("summary", null, n + " series"));
    const list = el("ul", "members");
    for (const m of g.alerts) {
      if (!m || typeof m !== "object") continue;
      const mk = word(m.kind, ["firing", "resolved"], "other");
      const li = el("li", "member kind-" + mk);
      li.dataset.id = typeof m.id === "string" ? m.id : "";
      li.appendChild(severityBadge(m.severity));
      li.appendChild(badge(mk, "kind " + mk));
      li.appendChild(el("span", "member-series", [m.exchange, m.endpoint, m.metric].map(function (x) { return x === undefined || x === null ? "?" : String(x); }).join(" / ")));
      if (m.detector) li.appendChild(el("span", "member-detector muted", m.detector));
      if (m.title) li.appendChild(el("span", "member-title", m.title));
      list.appendChild(li);
    }
    details.appendChild(list);
    box.appendChild(details);
    return box;
  }

  function eventRow(ev, incidentOf) {
    const kind = word(ev.kind, ["firing", "resolved", "triage", "acknowledged"], "other");
    const group = groupOf(ev);
    const tr = el("tr", "event kind-" + kind + " sev-row-" + word(ev.severity, SEVERITIES, "unknown") + (group ? " incident-row" : ""));
    tr.dataset.id = ev.id || "";
    cell(tr, 0, timeNode(ev.at)).className = "c-time";
    cell(tr, 1, ev.exchange).className = "c-exchange";
    cell(tr, 2, ev.endpoint).className = "c-endpoint";
    cell(tr, 3, ev.metric).className = "c-metric";

    const sev = el("div", "sev-cell");
    sev.appendChild(severityBadge(ev.severity));
    sev.appendChild(badge(kind, "kind " + kind));
    if (ev.silenced) sev.appendChild(badge("silenced", "silenced"));
    if (ev.acked) sev.appendChild(badge("acked", "acked"));
    if (group) sev.appendChild(badge("incident", "incident-badge"));
    const memberOf = incidentOf && !group ? incidentOf.get(ev.id) : undefined;
    if (memberOf !== undefined) {
      const b = badge("in incident", "member-of");
      b.title = memberOf;
      sev.appendChild(b);
    }
    cell(tr, 4, sev).className = "c-severity";
    cell(tr, 5, ev.detector).className = "c-detector";

    const msg = el("div", "msg");
    if (group) msg.appendChild(incidentBlock(group));
    if (ev.title) msg.appendChild(el("div", "msg-title", ev.title));
    if (ev.message && ev.message !== ev.title) msg.appendChild(el("div", "msg-body", ev.message));
    if (typeof ev.value === "number") msg.appendChild(el("div", "msg-value muted", "value " + ev.value));
    if (ev.triage) {
      const tri = el("div", "triage");
      tri.appendChild(el("span", "triage-label", "LLM triage"));
      tri.appendChild(el("p", "triage-text", ev.triage));
      msg.appendChild(tri);
    }
    cell(tr, 6, msg).className = "c-message";

    const del = el("div", "deliveries");
    const ds = Array.isArray(ev.deliveries) ? ev.deliveries : [];
    if (ds.length === 0) del.appendChild(el("span", "muted", ev.silenced ? "not sent (silenced)" : "—"));
    for (const d of ds) {
      const st = word(d.state, ["pending", "delivered", "failed"], "unknown");
      const chip = el("span", "delivery " + st);
      chip.appendChild(el("span", "ch", d.channel));
      chip.appendChild(el("span", "st", st + (d.attempts > 1 ? " ×" + d.attempts : "")));
      if (d.last_error) chip.title = d.last_error;
      del.appendChild(chip);
      if (d.last_error && st !== "delivered") del.appendChild(el("span", "delivery-error", d.last_error));
    }
    cell(tr, 7, del).className = "c-delivery";
    return tr;
  }

  // ---- wiring ----
  function schedule() {
    clearInterval(state.timer);
    state.timer = state.paused ? null : setInterval(refresh, REFRESH_MS);
  }

  // The filters live in the page's query string too, so a filtered view can be bookmarked
  // or pasted into a chat: /?exchange=okx&severity=critical
  const FILTERS = ["exchange", "severity", "kind", "since"];

  function filtersFromUrl() {
    const q = new URLSearchParams(location.search);
    for (const name of FILTERS) {
      if (!q.has(name)) continue;
      const sel = $("f-" + name), v = q.get(name);
      if (name === "exchange" && v && !Array.from(sel.options).some((o) => o.value === v)) {
        // Exchange options arrive with the first status; keep the wanted one meanwhile.
        const o = el("option", null, v);
        o.value = v;
        sel.appendChild(o);
      }
      sel.value = v;
    }
  }

  function filtersToUrl() {
    const q = new URLSearchParams(location.search);
    for (const name of FILTERS) q.set(name, $("f-" + name).value);
    history.replaceState(null, "", "?" + q.toString());
  }

  function start() {
    filtersFromUrl();
    $("filters").addEventListener("change", () => {
      state.wanted = PAGE;
      filtersToUrl();
      refresh();
    });
    $("filters").addEventListener("submit", (e) => e.preventDefault());
    $("more").addEventListener("click", loadMore);
    $("pause").addEventListener("click", () => {
      state.paused = !state.paused;
      const b = $("pause");
      b.textContent = state.paused ? "Resume" : "Pause";
      b.setAttribute("aria-pressed", String(state.paused));
      schedule();
      if (!state.paused) refresh();
      else showUpdated();
    });
    // A hidden tab does not poll; it catches up when shown again.
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) clearInterval(state.timer);
      else if (!state.paused) {
        refresh();
        schedule();
      }
    });
    refresh();
    schedule();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
