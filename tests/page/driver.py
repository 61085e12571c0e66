"""Drive Debian's Chromium with Playwright and print facts about the rendered DOM as JSON.

Run with the python of the cached Playwright venv (see conftest.py), never the project's. Standard
input is one job (a JSON object) or a list of them; standard output is one JSON object of facts
per job (a list for a list). All jobs of one run share one browser, each gets its own context
(so its own cookies, storage and JavaScript setting). A job:

    url         the page to load
    viewport    {"width": 1280, "height": 900} unless given
    mobile      emulate a phone (is_mobile, has_touch: the viewport meta tag applies)
    javascript  true (default) or false
    filter      product ids; for each, click ``label[for=product-<id>]`` and record which
                ``article.window`` elements are visible
    click       a selector clicked after loading (and after ``filter``); the facts then describe
                the page it navigated to
    screenshot  a path: a full-page PNG of the final page is written there
    color_scheme  "light" or "dark": what ``prefers-color-scheme`` answers (Playwright's
                emulation; the browser's canvas and system colours follow it)
    contrast    true: ``contrast`` lists every visible text node of the final page with its
                colour composited over its effective background (see CONTRAST_JS)
    axe         a path to axe-core's ``axe.min.js``: injected into the final page and run;
                ``axe`` gives its violations and incomplete results

Facts: the final url and HTTP status, ``lang``, the viewport meta tag, how many ``main``, the
headings, the section ids in ``main`` with the window ids of their articles, every article's
classes, text, heading and updates, the filter's radios and labels, the links (attribute and
resolved URL, and whether inside ``#subscribe``), resource URLs (src, link href, CSS url()),
``time`` elements, scripts inside and outside ``main``, elements with ``on*`` attributes, the
page widths and text that runs past the right edge, every request the page made, console errors,
page errors and dialogs; with ``contrast`` or ``axe``, those results, the status badges'
classes and whether ``prefers-color-scheme: dark`` matched.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000

# One evaluate() collects the static facts: cheaper and steadier than many round trips.
DUMP_JS = r"""
() => {
  const text = (el) => (el ? el.textContent.replace(/\s+/g, ' ').trim() : null);
  const main = document.querySelectorAll('main');
  const firstMain = main[0] || null;
  const closestWindow = (el) => {
    const a = el.closest('[data-window]');
    return a ? a.getAttribute('data-window') : null;
  };
  const sections = [];
  for (const s of document.querySelectorAll('main section[id]')) {
    sections.push({
      id: s.id,
      windows: [...s.querySelectorAll('article[data-window]')].map(
        (a) => a.getAttribute('data-window')),
    });
  }
  const articles = [...document.querySelectorAll('article[data-window]')].map((a) => {
    const h = a.querySelector('h1, h2, h3, h4, h5, h6');
    const hLink = h ? h.querySelector('a[href]') : null;
    return {
      window: a.getAttribute('data-window'),
      classes: [...a.classList],
      section: a.closest('section[id]') ? a.closest('section[id]').id : null,
      heading: text(h),
      heading_href: hLink ? hLink.getAttribute('href') : null,
      heading_url: hLink ? hLink.href : null,
      text: text(a),
      updates: [...a.querySelectorAll('ol.updates > li')].map(text),
    };
  });
  const inSubscribe = (el) => !!el.closest('#subscribe');
  const links = [...document.querySelectorAll('a[href]')].map((a) => ({
    href: a.getAttribute('href'), url: a.href, text: text(a), subscribe: inSubscribe(a),
  }));
  const resources = [];
  for (const el of document.querySelectorAll('[src]')) {
    resources.push({tag: el.tagName.toLowerCase(), attr: 'src', value: el.getAttribute('src')});
  }
  for (const el of document.querySelectorAll('link[href]')) {
    resources.push({tag: 'link', attr: 'href', value: el.getAttribute('href')});
  }
  for (const el of document.querySelectorAll('[srcset], [poster], object[data]')) {
    const value = el.outerHTML.slice(0, 200);
    resources.push({tag: el.tagName.toLowerCase(), attr: 'other', value});
  }
  for (const st of document.querySelectorAll('style')) {
    for (const m of st.textContent.matchAll(/(?:url\(|@import)\s*['"]?([^'")\s;]+)/g)) {
      resources.push({tag: 'style', attr: 'url', value: m[1]});
    }
  }
  const onAttributes = [];
  for (const el of document.querySelectorAll('*')) {
    for (const at of el.attributes) {
      if (at.name.toLowerCase().startsWith('on')) {
        onAttributes.push({tag: el.tagName.toLowerCase(), name: at.name, value: at.value});
      }
    }
  }
  const scripts = [...document.querySelectorAll('script')].map((s) => ({
    src: s.getAttribute('src'), in_main: !!s.closest('main'), length: s.textContent.length,
  }));
  const inMain = (sel) => (firstMain ? firstMain.querySelectorAll(sel).length : 0);
  // Text that runs past the right edge (cut off or forcing a scroll), outside scroll boxes.
  const overflowing = [];
  const width = window.innerWidth;
  const scrollBox = (el) => {
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      const o = getComputedStyle(e).overflowX;
      if (o === 'auto' || o === 'scroll') return true;
    }
    return false;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim() || !n.parentElement) continue;
    const el = n.parentElement;
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const right = Math.max(0, ...[...range.getClientRects()].map((r) => r.right + window.scrollX));
    if (right > width + 1 && !scrollBox(el)) {
      const tag = el.tagName.toLowerCase();
      overflowing.push({tag, right, text: n.textContent.trim().slice(0, 80)});
    }
  }
  const viewportMeta = document.querySelector('meta[name="viewport"]');
  return {
    url: location.href,
    title: document.title,
    lang: document.documentElement.getAttribute('lang'),
    viewport_meta: viewportMeta ? viewportMeta.getAttribute('content') : null,
    main_count: main.length,
    headings: [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map((h) => ({
      level: Number(h.tagName[1]), text: text(h), in_main: !!h.closest('main'),
    })),
    sections,
    articles,
    radios: [...document.querySelectorAll('input[name="product"]')].map((i) => ({
      id: i.id, type: i.type, checked: i.checked,
    })),
    labels: [...document.querySelectorAll('label[for]')].map((l) => ({
      for: l.htmlFor, text: text(l),
    })),
    links,
    resources,
    times: [...document.querySelectorAll('time')].map((t) => ({
      datetime: t.getAttribute('datetime'), text: text(t), window: closestWindow(t),
    })),
    scripts,
    main_elements: {
      script: inMain('script'), img: inMain('img'), iframe: inMain('iframe'),
      object: inMain('object'), embed: inMain('embed'), svg_script: inMain('svg script'),
    },
    on_attributes: onAttributes,
    scroll_width: document.documentElement.scrollWidth,
    inner_width: window.innerWidth,
    overflowing: overflowing.slice(0, 20),
    main_text: text(firstMain),
    body_text: document.body ? document.body.innerText : '',
  };
}
"""


# Every visible text node: its colour and the background it is drawn on, both as sRGB 0-255.
# The background is the element's own background-color and every ancestor's, composited
# from the canvas (the page's `Canvas` system colour, which follows the colour scheme) up;
# the text colour's alpha, times the opacity of the element and its ancestors, is composited
# over that. A background image or gradient anywhere on the way cannot be measured this way:
# the node is reported with `image` set. The ratio itself is computed by the test.
CONTRAST_JS = r"""
() => {
  const parse = (value) => {
    let m = value.match(/^rgba?\(([^)]*)\)$/);
    let scale = 1;
    if (!m) { m = value.match(/^color\(srgb ([^)]*)\)$/); scale = 255; }
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    if (p.length < 3 || p.some(Number.isNaN)) return null;
    return [p[0] * scale, p[1] * scale, p[2] * scale, p.length > 3 ? p[3] : 1];
  };
  const over = (top, below) => {  // top (r, g, b, a) over an opaque colour
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a));
  };
  const probe = document.createElement('div');
  probe.style.cssText = 'display: none; background-color: Canvas';
  document.documentElement.appendChild(probe);
  const canvasValue = getComputedStyle(probe).backgroundColor;
  probe.remove();
  const canvas = parse(canvasValue);
  const nodes = [];
  const unparsed = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.replace(/\s+/g, ' ').trim();
    const el = n.parentElement;
    if (!text || !el) continue;
    const shown = {visibilityProperty: true, opacityProperty: true, contentVisibilityAuto: true};
    if (!el.checkVisibility(shown)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    if (![...range.getClientRects()].some((r) => r.width > 0 && r.height > 0)) continue;
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.push(e);
    let opacity = 1;
    let image = null;
    const layers = [];
    for (const e of chain) {
      const style = getComputedStyle(e);
      opacity *= Number(style.opacity);
      if (style.backgroundImage !== 'none' && !image) image = style.backgroundImage.slice(0, 80);
      layers.push(style.backgroundColor);
    }
    const style = getComputedStyle(el);
    const colours = [style.color, ...layers].map((v) => [v, parse(v)]);
    const bad = colours.filter(([, c]) => c === null).map(([v]) => v);
    if (bad.length || !canvas) {
      unparsed.push({text: text.slice(0, 60), values: bad, canvas: canvasValue});
      continue;
    }
    let background = canvas.slice(0, 3);
    for (const layer of layers.reverse()) background = over(parse(layer), background);
    const fg = parse(style.color);
    fg[3] *= opacity;
    const path = chain.slice(0, 4).map((e) => e.tagName.toLowerCase() +
      (e.id ? '#' + e.id : '') + [...e.classList].map((c) => '.' + c).join('')).reverse();
    nodes.push({
      text: text.slice(0, 60),
      path: path.join(' > '),
      color: over(fg, background),
      background,
      font_size: parseFloat(style.fontSize),
      font_weight: Number(style.fontWeight),
      image,
    });
  }
  return {
    contrast: nodes,
    contrast_unparsed: unparsed,
    canvas: canvas ? canvas.slice(0, 3) : canvasValue,
    dark: matchMedia('(prefers-color-scheme: dark)').matches,
    badges: [...document.querySelectorAll('.status')].map((b) => [...b.classList]),
  };
}
"""

# axe-core on the whole document, the rules of WCAG 2.0-2.2 levels A and AA (its best-practice
# rules are left out); violations and incomplete results only, each node with its selector,
# axe's summary and (for contrast) its data.
AXE_JS = r"""
async () => {
  const wcag = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa'];
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: wcag},
    resultTypes: ['violations', 'incomplete'],
  });
  const shape = (rule) => ({
    id: rule.id,
    impact: rule.impact,
    tags: rule.tags,
    help: rule.help,
    nodes: rule.nodes.map((node) => ({
      target: node.target.join(' '),
      summary: (node.failureSummary || '').slice(0, 300),
      data: [...node.any, ...node.all, ...node.none]
        .map((check) => check.data).filter((d) => d && typeof d === 'object')[0] || null,
    })),
  });
  return {
    version: axe.version,
    violations: result.violations.map(shape),
    incomplete: result.incomplete.map(shape),
  };
}
"""


def visible_articles(page: Page) -> list[str]:
    """The data-window of every ``article.window`` Playwright considers visible, in order."""
    shown = []
    for article in page.locator("article.window").all():
        if article.is_visible():
            shown.append(article.get_attribute("data-window") or "")
    return shown


def run_job(browser: Browser, job: dict[str, Any]) -> dict[str, Any]:
    viewport = job.get("viewport") or {"width": 1280, "height": 900}
    mobile = bool(job.get("mobile"))
    scheme: dict[str, Any] = {}
    if job.get("color_scheme"):
        scheme["color_scheme"] = job["color_scheme"]
    context = browser.new_context(
        **scheme,
        viewport=viewport,
        java_script_enabled=bool(job.get("javascript", True)),
        is_mobile=mobile,
        has_touch=mobile,
        locale="en-US",
        timezone_id=job.get("timezone", "UTC"),
    )
    context.set_default_timeout(TIMEOUT_MS)
    requests: list[str] = []
    console: list[str] = []
    page_errors: list[str] = []
    dialogs: list[str] = []
    failed: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    context.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page = context.new_page()

    def on_console(message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            console.append(f"{message.text} ({where})" if where else message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    response = page.goto(job["url"], wait_until="load")
    page.wait_for_load_state("networkidle")
    facts: dict[str, Any] = {"status": response.status if response else None}
    filtered: dict[str, Any] = {}
    for product in job.get("filter", []):
        label = page.locator(f'label[for="product-{product}"]')
        if label.count() == 0:
            filtered[product] = {"error": f'no label[for="product-{product}"]'}
            continue
        if not label.first.is_visible():
            filtered[product] = {"error": f'label[for="product-{product}"] is not visible'}
            continue
        label.first.click()
        radio = page.locator(f"#product-{product}")
        filtered[product] = {
            "checked": radio.count() > 0 and radio.first.is_checked(),
            "visible": visible_articles(page),
        }
    facts["filter"] = filtered
    facts["visible"] = visible_articles(page)
    if job.get("click"):
        facts["clicked_from"] = page.url
        with page.expect_navigation(wait_until="load"):
            page.locator(job["click"]).first.click()
        page.wait_for_load_state("networkidle")
    facts.update(page.evaluate(DUMP_JS))
    if job.get("click"):
        facts["visible"] = visible_articles(page)
    if job.get("contrast"):
        facts.update(page.evaluate(CONTRAST_JS))
    if job.get("axe"):
        page.add_script_tag(path=job["axe"])
        facts["axe"] = page.evaluate(AXE_JS)
    if job.get("screenshot"):
        page.screenshot(path=job["screenshot"], full_page=job.get("full_page", True))
    facts.update(
        requests=requests,
        failed_requests=failed,
        console_errors=console,
        page_errors=page_errors,
        dialogs=dialogs,
    )
    context.close()
    return facts


def main() -> None:
    job = json.load(sys.stdin)
    jobs = job if isinstance(job, list) else [job]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS, timeout=TIMEOUT_MS
        )
        try:
            results = [run_job(browser, one) for one in jobs]
        finally:
            browser.close()
    json.dump(results if isinstance(job, list) else results[0], sys.stdout)


if __name__ == "__main__":
    main()
