#!/usr/bin/python3
"""The step-through page in a real browser (Debian's headless Chromium through chromedriver and
Selenium): open it from disk, step through every step with the arrow key, and check that the panel
shows the JSON trace's numbers for that step, that the highlighted node is that step's node, that
clicking a box shows its full values, that the textbook's lines lead to their steps, that a graded
exercise marks its wrong quantity, and that the page logged no JavaScript error. Screenshots of the
first, a middle and the last step go to OUT_DIR.
    test_page.py TAPEGRAD OUT_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

failures = []
checks = [0]


def check(ok, what):
    checks[0] += 1
    if not ok:
        failures.append(what)
        print("FAIL: " + what)


def tapegrad(program, *args, cwd):
    return subprocess.run([program, *args], cwd=cwd, check=True, stdout=subprocess.PIPE, text=True).stdout


def parse(v):
    return float(v)  # "NaN" and "Infinity" too


def cells(root, name):
    tables = root.find_elements(By.CSS_SELECTOR, 'table.arr[data-name="{}"]'.format(name))
    if not tables:
        return None
    return [parse(td.get_attribute("data-v")) for td in tables[0].find_elements(By.TAG_NAME, "td")]


def g4(v):
    """4 significant digits, as the terminal (C's %.4g) and the page show a number."""
    return v if isinstance(v, str) else format(v, ".4g")


def no_horizontal_scroll(d, where):
    """Neither the page nor any pane inside it scrolls sideways at 1280 x 800."""
    wide = d.execute_script(
        "var out = [];"
        "if (document.documentElement.scrollWidth > window.innerWidth) out.push('the page');"
        "document.querySelectorAll('*').forEach(function (e) {"
        "  var s = getComputedStyle(e);"
        "  if ((s.overflowX === 'auto' || s.overflowX === 'scroll') && e.scrollWidth > e.clientWidth + 1)"
        "    out.push(e.id || e.tagName); });"
        "return out;")
    check(not wide, "{}: no horizontal scrolling at 1280 x 800, but {} scroll sideways".format(where, wide))


def inside(d, item, pane):
    """Whether item's box lies within pane's visible box."""
    return d.execute_script(
        "var r = arguments[0].getBoundingClientRect(), p = arguments[1].getBoundingClientRect();"
        "return r.top >= p.top - 1 && r.bottom <= p.bottom + 1;", item, pane)


def browser():
    o = Options()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800", "--disable-dev-shm-usage"]:
        o.add_argument(a)
    o.binary_location = "/usr/bin/chromium"
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def main():
    program, out_dir = os.path.abspath(sys.argv[1]), sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="tapegrad_page_")
    page = os.path.join(work, "bn.html")
    tapegrad(program, "walkthrough", "--html", page, "--repeats", "3", cwd=work)
    trace = json.loads(tapegrad(program, "trace", "--format", "json", "--max-values", "1000000", cwd=work))
    forward, steps = trace["trace"]["forward"], trace["trace"]["steps"]
    total = len(forward) + len(steps)
    html = open(page).read()
    check("<script src" not in html and "<link" not in html, "the page loads nothing from elsewhere")

    d = browser()
    try:
        d.get("file://" + page)
        body = d.find_element(By.TAG_NAME, "body")
        no_horizontal_scroll(d, "the walkthrough page")
        panel = d.find_element(By.ID, "panel")
        book_pane = d.find_element(By.ID, "book")
        node_of = {f["output"]: i for i, f in enumerate(forward)}
        check(panel.find_element(By.TAG_NAME, "h2").text == "Forward: X", "the forward pass starts at X")
        # the graph's boxes show each tensor's value and gradient, as the PNG does
        for i, f in enumerate(forward):
            box = d.execute_script("var out = ''; document.querySelectorAll('#graph g.node').forEach(function (n) {"
                                   " if (n.querySelector('title').textContent === 't" + str(i) + "')"
                                   " n.querySelectorAll('text').forEach(function (t) { out += t.textContent + ' '; }); });"
                                   " return out;")
            check("value" in box and g4(f["value"]["values"][0]) in box,
                  "the box of {} shows its value: {}".format(f["output"], box))
            grads = [l["grad"]["values"] for l in trace["trace"]["leaves"] if l["tensor"] == f["output"]]
            if f["output"] == "xc":
                grads = [[a + b for a, b in zip(*[c["grad"]["values"] for s in steps for c in s["sent"]
                                                  if c["to"] == "xc"])]]
            if grads:
                check("grad" in box and g4(grads[0][0]) in box, "the box of {} shows its gradient: {}".format(f["output"], box))
        shots = {0: "page_first_step.png", total // 2: "page_middle_step.png", total - 1: "page_last_step.png"}
        for k in range(total):
            if k:
                body.send_keys(Keys.ARROW_RIGHT)
            check(panel.get_attribute("data-step") == str(k), "step {}: the panel shows step {}".format(k, k))
            node = panel.get_attribute("data-node")
            current = d.find_elements(By.CSS_SELECTOR, "#graph g.node.current")
            check(len(current) == 1, "step {}: one node is highlighted".format(k))
            if current:
                title = current[0].find_element(By.TAG_NAME, "title").get_attribute("textContent")
                label = current[0].find_element(By.TAG_NAME, "text").get_attribute("textContent").split(" = ")[0]
                check(title == "t" + node, "step {}: the highlighted node is the step's node".format(k))
            # the textbook lines of the current step, if any, are scrolled into view: the first, and all
            # of them when they fit in the pane together
            current = d.find_elements(By.CSS_SELECTOR, "#book li.current")
            if current:
                check(inside(d, current[0], book_pane), "step {}: its textbook line is scrolled into view".format(k))
                together = d.execute_script("return arguments[1].getBoundingClientRect().bottom - "
                                            "arguments[0].getBoundingClientRect().top <= arguments[2].clientHeight - 8",
                                            current[0], current[-1], book_pane)
                if together:
                    check(all(inside(d, li, book_pane) for li in current),
                          "step {}: all its textbook lines are in view".format(k))
            if k < len(forward):
                f = forward[k]
                check(panel.get_attribute("data-kind") == "forward", "step {} is a forward step".format(k))
                check(label == f["output"], "forward step {}: node {} is {}".format(k, label, f["output"]))
                check(cells(panel, "value") == f["value"]["values"], "forward step {}: the value of {}".format(k, f["output"]))
            else:
                s = steps[k - len(forward)]
                check(panel.get_attribute("data-kind") == "backward", "step {} is a backward step".format(k))
                check(label == s["output"], "backward step {}: node {} is {}".format(k, label, s["output"]))
                check(cells(panel, "upstream") == s["upstream"]["values"], "backward step {}: dL/d{}".format(k, s["output"]))
                sends = panel.find_elements(By.CSS_SELECTOR, "div.send")
                for i, c in enumerate(s["sent"]):
                    check(cells(panel, "sent{}".format(i)) == c["grad"]["values"],
                          "backward step {}: what {} sends to {}".format(k, s["output"], c["to"]))
                    # the rule, filled in with this step's numbers for one element
                    worked = sends[i].find_elements(By.CSS_SELECTOR, ".worked") if i < len(sends) else []
                    check(len(worked) == 1, "backward step {}: the rule for {} is worked out".format(k, c["to"]))
                    if worked:
                        text = worked[0].text
                        element = 1 if len(c["grad"]["values"]) > 1 else 0
                        result = float(text.rsplit(" = ", 1)[1])
                        expected = c["grad"]["values"][element]
                        check(text.startswith("one element: dL/d" + c["to"]) and
                              abs(result - expected) <= 1e-3 * abs(expected) + 1e-12,
                              "backward step {}: the worked element of dL/d{} ends in its value {}: {}".format(
                                  k, c["to"], g4(expected), text))
                    # the edge it travels points back to the input and carries it
                    arrow = d.find_elements(By.CSS_SELECTOR, '#graph g.back[data-to="{}"]'.format(node_of[c["to"]]))
                    check(len(arrow) == 1, "backward step {}: the edge to {} is drawn backwards".format(k, c["to"]))
                    if arrow:
                        near = d.execute_script(
                            "var g = arguments[0], pts = g.querySelector('polygon').points, tip = pts.getItem(0);"
                            "function box(id) { var b = null; document.querySelectorAll('#graph g.node').forEach("
                            "  function (n) { if (n.querySelector('title').textContent === id) b = n.getBBox(); });"
                            "  return b; }"
                            "function dist(b) { var dx = Math.max(b.x - tip.x, 0, tip.x - b.x - b.width),"
                            "  dy = Math.max(b.y - tip.y, 0, tip.y - b.y - b.height); return Math.hypot(dx, dy); }"
                            "return dist(box('t' + arguments[1])) < dist(box('t' + arguments[2]));",
                            arrow[0], node_of[c["to"]], node_of[s["output"]])
                        check(near, "backward step {}: the arrow to {} points at it, not at {}".format(k, c["to"], s["output"]))
                        label = arrow[0].find_element(By.TAG_NAME, "text").get_attribute("textContent")
                        check(label.startswith("dL/d" + c["to"]), "backward step {}: the edge carries dL/d{}: {}".format(
                            k, c["to"], label))
            if k in shots:
                d.save_screenshot(os.path.join(out_dir, shots[k]))
        # a tensor that receives two gradients shows the +=
        body.send_keys(Keys.HOME)
        for _ in range(len(forward) + [s["output"] for s in steps].index("xhat")):
            body.send_keys(Keys.ARROW_RIGHT)
        check("+= xc receives 2 contributions" in panel.text, "the step that sends to xc shows the += of its two parts")
        acc = panel.find_element(By.CSS_SELECTOR, ".acc")
        fits = d.execute_script("var a = arguments[0], p = arguments[1];"
                                "return a.scrollHeight <= a.clientHeight + 1 && a.offsetHeight <= p.clientHeight"
                                " && p.clientHeight >= 0.4 * window.innerHeight;", acc, panel)
        check(fits, "the += block is readable whole in the step's panel, without a scroll box of its own")
        # 4 significant digits, every digit on a click
        first = panel.find_element(By.CSS_SELECTOR, 'table.arr[data-name="upstream"] td')
        full = first.get_attribute("data-v")
        check(first.text == g4(float(full)), "a cell shows 4 significant digits: {} for {}".format(first.text, full))
        first.click()
        check(first.text == full, "a click shows every digit: {}".format(first.text))
        first.click()
        check(first.text == g4(float(full)), "a second click goes back to 4 digits")
        for td in panel.find_elements(By.CSS_SELECTOR, "table.arr td"):
            v = td.get_attribute("data-v")
            check(td.text == g4(float(v)), "every cell to 4 significant digits: {} for {}".format(td.text, v))
        worked = [w.text for w in panel.find_elements(By.CSS_SELECTOR, ".worked")]
        check(any("dL/dxc[0, 1] = dL/dxhat[0, 1] / std[1] = " in w for w in worked),
              "the div rule is worked out for dL/dxc[0, 1]: {}".format(worked))
        no_horizontal_scroll(d, "the xhat step")
        # clicking a box shows every digit of its value and gradient
        x = [i for i, f in enumerate(forward) if f["output"] == "X"][0]
        d.execute_script("document.querySelectorAll('#graph g.node').forEach(function (n) {"
                         " if (n.querySelector('title').textContent === 't" + str(x) + "')"
                         " n.dispatchEvent(new MouseEvent('click', {bubbles: true})); })")
        box = d.find_element(By.ID, "tensor")
        leaves = {l["tensor"]: l["grad"]["values"] for l in trace["trace"]["leaves"]}
        check(cells(box, "value") == forward[x]["value"]["values"], "clicking X shows its value in full")
        check(cells(box, "grad") == leaves["X"], "clicking X shows its gradient in full")
        # a textbook line leads to its step, and the step marks its line
        lines = d.find_elements(By.CSS_SELECTOR, "#book li")
        target = [l for l in lines if l.text.startswith("dL/dsigma2")][0]
        target.click()
        expected = len(forward) + [s["output"] for s in steps].index("sigma2")
        check(panel.get_attribute("data-step") == str(expected), "the line dL/dsigma2 leads to sigma2's step")
        check("current" in target.get_attribute("class"), "the step marks its textbook line")
        # the fused tab: one backward step and the node's stages
        d.find_element(By.CSS_SELECTOR, '.tabs button[data-tab="fused"]').click()
        check("Inside the fused node" in d.find_element(By.ID, "book").text, "the fused tab lists the node's stages")
        d.find_element(By.CSS_SELECTOR, '.tabs button[data-tab="compare"]').click()
        report = d.find_element(By.ID, "html").text
        check("op nodes on the tape" in report, "the compare tab shows the report")
        check("1e-8 and below is agreement" in report, "the compare tab says what agreement is")
        check("not associative" in report, "the compare tab says why the last bits differ")
        no_horizontal_scroll(d, "the compare tab")
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        check(not errors, "no JavaScript error: {}".format(errors))

        # layer norm's page: the reading says where the sums run, its textbook lines lead to its steps
        ln_page = os.path.join(work, "ln.html")
        tapegrad(program, "walkthrough", "--kind", "layer", "--html", ln_page, "--repeats", "3", cwd=work)
        ln = json.loads(tapegrad(program, "trace", "--kind", "layer", "--format", "json", cwd=work))
        d.get("file://" + ln_page)
        reading = d.find_element(By.ID, "reading").text
        check("over one sample's trailing dimension (axis 1)" in reading and "N = 3 values" in reading,
              "the layer-norm page states its axes and N: " + reading)
        lines = d.find_elements(By.CSS_SELECTOR, "#book li")
        target = [l for l in lines if l.text.startswith("dL/dmu from xhat")][0]
        target.click()
        ln_forward, ln_steps = ln["trace"]["forward"], ln["trace"]["steps"]
        expected = len(ln_forward) + [s["output"] for s in ln_steps].index("xhat")
        panel = d.find_element(By.ID, "panel")
        check(panel.get_attribute("data-step") == str(expected), "layer norm's dL/dmu from xhat leads to xhat's step")
        d.save_screenshot(os.path.join(out_dir, "page_layer_norm.png"))
        d.find_element(By.CSS_SELECTOR, '.tabs button[data-tab="fused"]').click()
        book = d.find_element(By.ID, "book").text
        check("Inside the fused node" in book and "dxhat" in book, "layer norm's fused tab lists its stages")
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        check(not errors, "no JavaScript error on the layer-norm page: {}".format(errors))

        # group norm's page: X [4, 6] has more values than a box shows, so its box summarises it
        gn_page = os.path.join(work, "gn.html")
        tapegrad(program, "walkthrough", "--kind", "group", "--groups", "3", "--d", "6", "--html", gn_page, "--repeats", "3",
                 cwd=work)
        d.get("file://" + gn_page)
        box = d.execute_script("var out = ''; document.querySelectorAll('#graph g.node').forEach(function (n) {"
                               " var t = n.querySelectorAll('text'); if (t.length && t[0].textContent === 'X')"
                               " t.forEach(function (x) { out += x.textContent + ' '; }); }); return out;")
        check("[4, 6] min" in box and "norm" in box, "a large array is summarised in its box: " + box)
        no_horizontal_scroll(d, "the group-norm page")
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        check(not errors, "no JavaScript error on the group-norm page: {}".format(errors))

        # a graded exercise: its wrong quantity's tensor is marked
        ex = os.path.join(work, "ex")
        tapegrad(program, "exercise", "bn", "--out", ex, cwd=work)
        subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "..", "exercises", "solve.py"),
                        os.path.join(ex, "bn_backward.py"), os.path.join(ex, "solved.py"),
                        "dsigma2=-0.5 * (dxhat * xc).sum(0) * sigma2 ** -1.5"], check=True)
        subprocess.run(["/usr/bin/python3", os.path.join(ex, "solved.py")], check=True, stdout=subprocess.DEVNULL)
        graded = os.path.join(work, "check.html")
        subprocess.run([program, "check", "--mine", ex, "--html", graded], cwd=work, stdout=subprocess.DEVNULL)
        d.get("file://" + graded)
        check("WRONG" in d.find_element(By.ID, "html").text, "the graded page shows the wrong row")
        no_horizontal_scroll(d, "the graded page")
        d.find_element(By.CSS_SELECTOR, '.tabs button[data-tab="the graph"]').click()
        marked = d.find_elements(By.CSS_SELECTOR, "#graph g.node.marked text")
        check(any(t.get_attribute("textContent").startswith("sigma2") for t in marked), "sigma2 is marked in the graph")
        d.save_screenshot(os.path.join(out_dir, "page_check.png"))
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        check(not errors, "no JavaScript error on the graded page: {}".format(errors))
    finally:
        d.quit()
    print("browser: {} steps walked, {} checks, {} failed".format(total, checks[0], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
