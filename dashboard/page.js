// The dashboard page: asks the JSON API for each panel and draws it with plotly.js.
// Values arrive as exact decimal strings; cards format those strings exactly, charts
// convert them to numbers only to plot. Times arrive in UTC and are shown in the viewer's zone.
"use strict";

(() => {
  const COLORS = {
    buy: "#16a34a",
    sell: "#dc2626",
    buyArea: "rgba(22, 163, 74, 0.12)",
    sellArea: "rgba(220, 38, 38, 0.12)",
    buyBar: "rgba(22, 163, 74, 0.75)",
    sellBar: "rgba(220, 38, 38, 0.75)",
    running: "#7c3aed",
    all: "#475569",
    trades: "#0284c7",
    grid: "#e2e8f0",
    zero: "#94a3b8",
    ink: "#334155",
  };
  const PRESETS = ["1h", "24h", "7d"];
  const DAY_MS = 86400000;
  const MINUTE_MS = 60000;
  const DAILY_DAYS = 30;
  const PLOT_CONFIG = {
    responsive: true,
    displaylogo: false,
    displayModeBar: "hover",
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toImage"],
  };

  const state = {
    range: "1h", // a preset, or "custom"
    anchor: "latest",
    start: null, // custom window, ISO UTC
    end: null,
    live: true,
    config: null,
    timer: null,
    busy: false,
    again: false,
    refreshes: 0,
    lastWindow: null,
    serverNow: null,
  };

  // ---- formatting --------------------------------------------------------------

  const pad = (n, width = 2) => String(n).padStart(width, "0");

  function zoneName() {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  }

  function offsetLabel(date) {
    const minutes = -date.getTimezoneOffset();
    const sign = minutes >= 0 ? "+" : "−";
    const abs = Math.abs(minutes);
    return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  }

  // An ISO UTC time as the viewer's wall-clock time, the form plotly plots as it is.
  function localStamp(iso) {
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function localMinute(iso) {
    return localStamp(iso).slice(0, 16);
  }

  // The time of day for moments of the same day as `now`, the date and time for older ones.
  function clockOrDate(iso, now) {
    const stamp = localStamp(iso);
    return stamp.slice(0, 10) === localStamp(now).slice(0, 10) ? stamp.slice(11) : stamp.slice(0, 16);
  }

  function inputValue(ms) {
    return localStamp(new Date(ms).toISOString()).slice(0, 16).replace(" ", "T");
  }

  function groupDigits(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // An exact decimal string rounded half away from zero to `places`, grouped, without floats.
  function formatDecimal(text, places) {
    if (text === null || text === undefined) return "—";
    const negative = text.startsWith("-");
    const [whole, fraction = ""] = (negative ? text.slice(1) : text).split(".");
    let scaled = BigInt(whole + fraction.slice(0, places).padEnd(places, "0"));
    if ((fraction.charAt(places) || "0") >= "5") scaled += 1n;
    const digits = scaled.toString().padStart(places + 1, "0");
    const head = digits.slice(0, digits.length - places);
    const tail = places ? "." + digits.slice(digits.length - places) : "";
    return (negative && scaled !== 0n ? "−" : "") + groupDigits(head) + tail;
  }

  function formatSigned(text, places) {
    const formatted = formatDecimal(text, places);
    return formatted.startsWith("−") || /^[0,.]+$/.test(formatted) ? formatted : "+" + formatted;
  }

  const formatInt = (n) => (n === null || n === undefined ? "—" : groupDigits(String(n)));

  function ago(seconds) {
    if (seconds < 0) return "ahead of this clock";
    if (seconds < 90) return `${seconds} s ago`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return `${minutes} min ago`;
    const hours = Math.round(seconds / 3600);
    if (hours < 48) return `${hours} h ago`;
    return `${formatInt(Math.round(seconds / 86400))} days ago`;
  }

  const num = (text) => (text === null ? null : Number(text));

  // ---- the API -----------------------------------------------------------------

  async function getJSON(path, params) {
    const query = new URLSearchParams(params).toString();
    const response = await fetch(query ? `${path}?${query}` : path, { cache: "no-store" });
    let body;
    try {
      body = await response.json();
    } catch (error) {
      throw new Error(`${path}: HTTP ${response.status}, not JSON`);
    }
    if (!response.ok) throw new Error(body.error || `${path}: HTTP ${response.status}`);
    return body;
  }

  function windowParams() {
    const symbol = state.config.symbol;
    if (state.range === "custom") return { symbol, start: state.start, end: state.end };
    return { symbol, range: state.range, anchor: state.anchor };
  }

  // The per-day panel shows 30 days ending with the window (or the custom window, if longer).
  function dailyParams() {
    const symbol = state.config.symbol;
    if (state.range !== "custom") return { symbol, range: "30d", anchor: state.anchor };
    const end = Date.parse(state.end);
    const start = Math.min(Date.parse(state.start), end - DAILY_DAYS * DAY_MS);
    return { symbol, start: new Date(start).toISOString(), end: state.end };
  }

  // ---- charts ------------------------------------------------------------------

  function timeAxisTitle() {
    return `your time (${zoneName()}, ${offsetLabel(new Date())})`;
  }

  function layout(extra) {
    const base = {
      margin: { l: 70, r: 20, t: 28, b: 44 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: COLORS.ink },
      hovermode: "x unified",
      hoverlabel: { bgcolor: "#ffffff" },
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
      xaxis: { type: "date", gridcolor: COLORS.grid, linecolor: COLORS.grid },
      modebar: { bgcolor: "rgba(255,255,255,0.85)", color: "#94a3b8", activecolor: COLORS.ink },
      yaxis: { gridcolor: COLORS.grid, zerolinecolor: COLORS.zero, tickformat: ",~r", automargin: true },
      bargap: 0.15,
      uirevision: windowKey(),
    };
    return Object.assign(base, extra);
  }

  function windowKey() {
    return state.range === "custom" ? `${state.start}/${state.end}` : `${state.range}/${state.anchor}`;
  }

  // Ranges for a left and a right axis that put zero at the same height on both.
  function alignedRanges(left, right) {
    const extent = (values) => {
      const finite = values.filter((v) => v !== null && Number.isFinite(v));
      return [Math.max(0, ...finite.map((v) => -v)), Math.max(0, ...finite)];
    };
    const [leftDown, leftUp] = extent(left);
    const [rightDown, rightUp] = extent(right);
    const share = (down, up) => (down + up === 0 ? 0 : down / (down + up));
    const below = Math.max(share(leftDown, leftUp), share(rightDown, rightUp));
    const span = (down, up) => {
      const needed = Math.max(below > 0 ? down / below : 0, below < 1 ? up / (1 - below) : 0) || 1;
      return needed * 1.08;
    };
    const leftSpan = span(leftDown, leftUp);
    const rightSpan = span(rightDown, rightUp);
    return [
      [-below * leftSpan, (1 - below) * leftSpan],
      [-below * rightSpan, (1 - below) * rightSpan],
    ];
  }

  function draw(id, traces, chartLayout) {
    return Plotly.react(document.getElementById(id), traces, chartLayout, PLOT_CONFIG);
  }

  const lineMode = (n) => (n <= 90 ? "lines+markers" : "lines");

  function renderCandles(body) {
    const s = body.series;
    const x = s.time.map(localStamp);
    const delta = s.btc_delta.map(num);
    const cumulative = s.btc_delta_cumulative.map(num);
    const [deltaRange, cumulativeRange] = alignedRanges(delta, cumulative);
    const traces = [
      {
        type: "candlestick", name: "Price (open, high, low, close)", x,
        open: s.open.map(num), high: s.high.map(num), low: s.low.map(num), close: s.close.map(num),
        increasing: { line: { color: COLORS.buy, width: 1 }, fillcolor: COLORS.buy },
        decreasing: { line: { color: COLORS.sell, width: 1 }, fillcolor: COLORS.sell },
        yaxis: "y",
      },
      {
        type: "bar", name: "BTC bought − sold", x, y: delta, yaxis: "y2",
        marker: { color: delta.map((v) => (v >= 0 ? COLORS.buyBar : COLORS.sellBar)) },
        hovertemplate: "%{y:+,.5f} BTC",
      },
      {
        type: "scatter", mode: "lines", name: "Running sum (BTC)", x, y: cumulative, yaxis: "y3",
        line: { color: COLORS.running, width: 2 }, hovertemplate: "%{y:+,.5f} BTC",
      },
      {
        type: "bar", name: "Trades per minute", x, y: s.trades, yaxis: "y4",
        marker: { color: COLORS.trades }, hovertemplate: "%{y:,} trades",
      },
    ];
    const axis = { gridcolor: COLORS.grid, zerolinecolor: COLORS.zero, automargin: true };
    draw("chart-candles", traces, layout({
      margin: { l: 70, r: 70, t: 28, b: 44 },
      xaxis: {
        type: "date", anchor: "y4", gridcolor: COLORS.grid, rangeslider: { visible: false },
        title: { text: timeAxisTitle(), standoff: 8 },
      },
      yaxis: Object.assign({}, axis, { domain: [0.45, 1], title: { text: "USD per BTC" }, tickformat: ",.0f" }),
      yaxis2: Object.assign({}, axis, { domain: [0.2, 0.41], title: { text: "BTC / minute" }, range: deltaRange }),
      yaxis3: Object.assign({}, axis, {
        overlaying: "y2", side: "right", showgrid: false, range: cumulativeRange, tickmode: "auto", nticks: 4,
        title: { text: "running sum, BTC", font: { color: COLORS.running } }, tickfont: { color: COLORS.running },
      }),
      yaxis4: Object.assign({}, axis, { domain: [0, 0.16], title: { text: "trades" }, rangemode: "tozero" }),
    }));
    return s.time.length;
  }

  function renderPrices(body) {
    const s = body.series;
    const x = s.time.map(localStamp);
    const mode = lineMode(x.length);
    draw("chart-prices", [
      { type: "scatter", mode, name: "Buy", x, y: s.avg_price_buy.map(num), line: { color: COLORS.buy, width: 2 },
        marker: { size: 4 }, hovertemplate: "%{y:,.2f} USD" },
      { type: "scatter", mode, name: "Sell", x, y: s.avg_price_sell.map(num), line: { color: COLORS.sell, width: 2 },
        marker: { size: 4 }, hovertemplate: "%{y:,.2f} USD" },
    ], layout({ yaxis: { gridcolor: COLORS.grid, tickformat: ",.0f", title: { text: "USD per BTC" }, automargin: true } }));
    return s.time.length;
  }

  function renderSpread(body) {
    const s = body.series;
    const x = s.time.map(localStamp);
    const spread = s.usd_spread.map(num);
    const running = s.usd_spread_30m.map(num);
    const [spreadRange, runningRange] = alignedRanges(spread, running);
    draw("chart-spread", [
      { type: "bar", name: "Bought − sold", x, y: spread,
        marker: { color: spread.map((v) => (v >= 0 ? COLORS.buyBar : COLORS.sellBar)) },
        hovertemplate: "%{y:+,.2f} USD" },
      { type: "scatter", mode: "lines", name: "30-minute sum", x, y: running, yaxis: "y2",
        line: { color: COLORS.running, width: 2 }, hovertemplate: "%{y:+,.2f} USD" },
    ], layout({
      margin: { l: 70, r: 70, t: 28, b: 44 },
      yaxis: { gridcolor: COLORS.grid, zerolinecolor: COLORS.zero, tickformat: "~s", range: spreadRange,
        title: { text: "USD / minute" }, automargin: true },
      yaxis2: { overlaying: "y", side: "right", showgrid: false, zeroline: false, tickformat: "~s", range: runningRange,
        tickmode: "auto", nticks: 6,
        title: { text: "USD, 30 minutes", font: { color: COLORS.running } }, tickfont: { color: COLORS.running },
        automargin: true },
    }));
    return s.time.length;
  }

  function renderUsd(body) {
    const s = body.series;
    const x = s.time.map(localStamp);
    const fill = x.length <= 360 ? "tozeroy" : "none"; // areas of thousands of minutes only blur
    const width = x.length <= 360 ? 2 : 1;
    draw("chart-usd", [
      { type: "scatter", mode: "lines", name: "Bought", x, y: s.total_usd_buy.map(num), fill,
        fillcolor: COLORS.buyArea, line: { color: COLORS.buy, width }, hovertemplate: "%{y:,.2f} USD" },
      { type: "scatter", mode: "lines", name: "Sold", x, y: s.total_usd_sell.map(num), fill,
        fillcolor: COLORS.sellArea, line: { color: COLORS.sell, width }, hovertemplate: "%{y:,.2f} USD" },
    ], layout({ yaxis: { gridcolor: COLORS.grid, tickformat: "~s", title: { text: "USD / minute" },
      rangemode: "tozero", automargin: true } }));
    return s.time.length;
  }

  function renderDaily(body) {
    const s = body.series;
    const x = s.day;
    // Days with rows, as categories: a short history reads as clearly as a long one.
    const dayAxis = { type: "category", gridcolor: COLORS.grid, title: { text: "UTC day", standoff: 8 } };
    for (const label of document.querySelectorAll(".days-label")) {
      label.textContent = `${body.days.first} to ${body.days.last}`;
    }
    draw("chart-daily-counts", [
      { type: "bar", name: "Buys", x, y: s.total_count_buy, marker: { color: COLORS.buy }, hovertemplate: "%{y:,}" },
      { type: "bar", name: "Sells", x, y: s.total_count_sell, marker: { color: COLORS.sell }, hovertemplate: "%{y:,}" },
      { type: "bar", name: "All", x, y: s.total_count, marker: { color: COLORS.all }, hovertemplate: "%{y:,}" },
    ], layout({ barmode: "group", bargap: x.length < 4 ? 0.55 : 0.2, xaxis: dayAxis,
      yaxis: { gridcolor: COLORS.grid, tickformat: ",~r", title: { text: "aggregate trades" }, rangemode: "tozero", automargin: true } }));
    draw("chart-daily-prices", [
      { type: "scatter", mode: "lines+markers", name: "Buy", x, y: s.avg_price_buy.map(num),
        line: { color: COLORS.buy, width: 2 }, marker: { size: 8 }, hovertemplate: "%{y:,.2f} USD" },
      { type: "scatter", mode: "lines+markers", name: "Sell", x, y: s.avg_price_sell.map(num),
        line: { color: COLORS.sell, width: 2 }, marker: { size: 8, symbol: "diamond" }, hovertemplate: "%{y:,.2f} USD" },
    ], layout({ xaxis: dayAxis,
      yaxis: { gridcolor: COLORS.grid, tickformat: ",.0f", title: { text: "USD per BTC" }, automargin: true } }));
    return s.day.length;
  }

  // ---- cards -------------------------------------------------------------------

  function setText(id, text, title) {
    const el = document.getElementById(id);
    el.textContent = text;
    if (title !== undefined) el.title = title;
    return el;
  }

  function renderHealth(body) {
    state.serverNow = body.now; // "updated" is the server's time of the answer, not this machine's
    const card = document.querySelector(".status-card");
    card.dataset.status = body.status;
    if (body.newest_minute) {
      setText("health-newest", localMinute(body.newest_minute), `${body.newest_minute} (UTC)`);
      const label = { fresh: "keeping up", lagging: "lagging", stale: "stale" }[body.status] || body.status;
      setText("health-age", `${ago(body.newest_minute_age_s)} · ${label}`);
    } else {
      setText("health-newest", "no rows yet");
      setText("health-age", "waiting for the first minute");
    }
    setText("health-objects", formatInt(body.objects_processed));
    setText("health-objects-sub", body.last_processed
      ? `${formatInt(body.lines_read)} lines · last ${clockOrDate(body.last_processed, body.now)}`
      : "none yet", body.last_processed ? `last processed ${body.last_processed} (UTC)` : "");
    setText("health-rejected", formatInt(body.lines_rejected));
    setText("health-rejected-sub", `quarantined, from ${formatInt(body.objects_with_rejects)} object${body.objects_with_rejects === 1 ? "" : "s"}`);
    setText("health-duplicates", formatInt(body.duplicate_trades));
    setText("health-duplicates-sub", `counted once · ${formatInt(body.redeliveries)} repeated events`);
    if (body.dead_letters === null) {
      setText("health-dead", "—");
      setText("health-dead-sub", body.dead_letters_note || "not reported", body.dead_letters_note || "");
    } else {
      setText("health-dead", formatInt(body.dead_letters));
      setText("health-dead-sub", "events the pipeline gave up on");
    }
    return 1;
  }

  function renderTotals(body) {
    const t = body.totals;
    setText("kpi-count", formatInt(t.total_count));
    setText("kpi-count-sub", `aggregate trades · ${formatInt(t.trades)} fills · ${formatInt(t.minutes)} min`);
    setText("kpi-usd-buy", "$" + formatDecimal(t.total_usd_buy, 2), `${t.total_usd_buy} USD exactly`);
    setText("kpi-usd-buy-sub", `${formatDecimal(t.total_btc_buy, 4)} BTC in ${formatInt(t.total_count_buy)} buys`);
    setText("kpi-usd-sell", "$" + formatDecimal(t.total_usd_sell, 2), `${t.total_usd_sell} USD exactly`);
    setText("kpi-usd-sell-sub", `${formatDecimal(t.total_btc_sell, 4)} BTC in ${formatInt(t.total_count_sell)} sells`);
    const net = setText("kpi-net", formatSigned(t.usd_net, 2).replace(/^([+−]?)/, "$1$"), `${t.usd_net} USD exactly`);
    net.classList.toggle("positive", !t.usd_net.startsWith("-") && /[1-9]/.test(t.usd_net));
    net.classList.toggle("negative", t.usd_net.startsWith("-"));
    setText("kpi-net-sub", "USD, buy pressure when positive");
    return t.minutes;
  }

  // ---- refresh loop ------------------------------------------------------------

  const PANELS = [
    { id: "health", path: "/api/health", params: () => ({ symbol: state.config.symbol }), render: renderHealth, always: true },
    { id: "totals", path: "/api/totals", params: windowParams, render: renderTotals, always: true },
    { id: "panel-candles", path: "/api/candles", params: windowParams, render: renderCandles },
    { id: "panel-prices", path: "/api/prices", params: windowParams, render: renderPrices },
    { id: "panel-spread", path: "/api/spread", params: windowParams, render: renderSpread },
    { id: "panel-usd", path: "/api/usd", params: windowParams, render: renderUsd },
    { id: ["panel-daily-counts", "panel-daily-prices"], path: "/api/daily", params: dailyParams, render: renderDaily },
  ];

  function setPanelState(ids, panelState, message) {
    for (const id of [].concat(ids)) {
      const panel = document.getElementById(id);
      panel.dataset.state = panelState;
      const box = panel.querySelector(".message");
      if (box) {
        box.hidden = !message;
        box.textContent = message || "";
      }
    }
  }

  async function refresh() {
    if (state.busy) {
      state.again = true; // the window changed while answers were on their way: ask again after
      return;
    }
    state.busy = true;
    state.again = false;
    clearTimeout(state.timer);
    const key = windowKey();
    try {
      const answers = await Promise.allSettled(PANELS.map((panel) => getJSON(panel.path, panel.params())));
      if (key !== windowKey()) return; // answers for a window no longer on screen
      answers.forEach((answer, index) => {
        const panel = PANELS[index];
        if (answer.status === "rejected") {
          console.error(`${panel.path}: ${answer.reason.message}`);
          setPanelState(panel.id, "error", answer.reason.message);
          return;
        }
        const points = panel.render(answer.value);
        const empty = !panel.always && points === 0;
        setPanelState(panel.id, empty ? "empty" : "ready", empty ? "No trades in this window." : "");
        if (panel.path === "/api/candles") showWindow(answer.value);
      });
      state.refreshes += 1;
      document.body.dataset.refreshes = String(state.refreshes);
      document.body.dataset.ready = "true";
      if (state.serverNow) setText("updated-label", `updated ${localStamp(state.serverNow).slice(11)}`);
    } finally {
      state.busy = false;
      if (state.again) refresh();
      else schedule();
    }
  }

  // Seconds between live refreshes: the setting for an hour, longer for longer windows,
  // whose ten thousand points take the browser seconds to draw (a week: every 84 s).
  function refreshSeconds() {
    const minutes = (state.config.ranges[state.range] || 60);
    return Math.max(state.config.refresh_seconds, Math.round(minutes / 120));
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.live && state.range !== "custom" && !document.hidden) {
      state.timer = setTimeout(refresh, refreshSeconds() * 1000);
    }
  }

  function showWindow(body) {
    const w = body.window;
    state.lastWindow = w;
    const names = { "1h": "Last hour", "24h": "Last day", "7d": "Last week" };
    const ending = w.anchor === "latest" ? "ending with the newest data" : w.anchor === "now" ? "ending now" : "custom window";
    const lead = w.range ? `${names[w.range] || w.range}, ${ending}` : ending;
    setText("window-label", `${lead}: ${localMinute(w.start)} → ${localMinute(w.end)}`,
      `${w.start} → ${w.end} (UTC)`);
    setText("zone-label", `times in ${zoneName()} (${offsetLabel(new Date(w.end))}), stored in UTC`);
  }

  // ---- controls ----------------------------------------------------------------

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get("start") && params.get("end") && !Number.isNaN(Date.parse(params.get("start")))
      && !Number.isNaN(Date.parse(params.get("end")))) {
      state.range = "custom";
      state.start = new Date(params.get("start")).toISOString();
      state.end = new Date(params.get("end")).toISOString();
    } else if (PRESETS.includes(params.get("range"))) {
      state.range = params.get("range");
    }
    if (["latest", "now"].includes(params.get("anchor"))) state.anchor = params.get("anchor");
    if (params.get("live") === "off") state.live = false;
  }

  function writeHash() {
    const params = state.range === "custom"
      ? { start: state.start, end: state.end }
      : { range: state.range, anchor: state.anchor };
    if (!state.live) params.live = "off";
    history.replaceState(null, "", "#" + new URLSearchParams(params).toString());
  }

  function syncControls() {
    for (const button of document.querySelectorAll(".segmented button")) {
      button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
    }
    const custom = state.range === "custom";
    document.getElementById("custom").hidden = !custom;
    document.getElementById("anchor").value = state.anchor;
    document.getElementById("anchor").disabled = custom;
    const live = document.getElementById("live");
    live.disabled = custom;
    live.setAttribute("aria-pressed", String(state.live && !custom));
    live.querySelector(".label").textContent = custom ? "Fixed window" : state.live ? `Live · ${refreshSeconds()}s` : "Paused";
    live.title = custom ? "A custom window does not move" : state.live ? "Click to pause" : "Click to refresh live";
    if (custom) {
      document.getElementById("custom-start").value = inputValue(Date.parse(state.start));
      document.getElementById("custom-end").value = inputValue(Date.parse(state.end));
    }
  }

  function choose(change) {
    Object.assign(state, change);
    writeHash();
    syncControls();
    refresh();
  }

  function wireControls() {
    for (const button of document.querySelectorAll(".segmented button")) {
      button.addEventListener("click", () => {
        if (button.dataset.range !== "custom") {
          choose({ range: button.dataset.range });
          return;
        }
        // Start from the window on screen, so Custom then Show changes nothing until edited.
        const w = state.lastWindow;
        const end = w ? Date.parse(w.end) : Math.ceil(Date.now() / MINUTE_MS) * MINUTE_MS;
        const start = w ? Date.parse(w.start) : end - 3600000;
        choose({ range: "custom", start: new Date(start).toISOString(), end: new Date(end).toISOString() });
      });
    }
    document.getElementById("anchor").addEventListener("change", (event) => choose({ anchor: event.target.value }));
    document.getElementById("live").addEventListener("click", () => choose({ live: !state.live }));
    document.getElementById("custom").addEventListener("submit", (event) => {
      event.preventDefault();
      // datetime-local values are the viewer's wall-clock time: Date parses them as local.
      const start = new Date(document.getElementById("custom-start").value);
      const end = new Date(document.getElementById("custom-end").value);
      if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) return;
      choose({ range: "custom", start: start.toISOString(), end: end.toISOString() });
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && state.live) refresh();
    });
  }

  async function start() {
    try {
      state.config = await getJSON("/api/config", {});
    } catch (error) {
      console.error(`/api/config: ${error.message}`);
      setText("window-label", `The dashboard's API is not answering: ${error.message}`);
      return;
    }
    setText("symbol", state.config.symbol);
    setText("database-label", state.config.database);
    document.title = `cryptotrades · ${state.config.symbol}`;
    readHash();
    writeHash();
    wireControls();
    syncControls();
    await refresh();
  }

  // Exposed for tests and the curious: exact formatting without floats.
  window.cryptotrades = { formatDecimal, alignedRanges, state };
  start();
})();
