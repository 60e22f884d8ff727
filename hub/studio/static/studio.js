// 알림 스튜디오 editor: live preview, byte counter, unsafe characters, one-click fields.
// Plain JavaScript, no build step. The server does every check (the same code that
// guards publishing); this file only sends the source and draws the answer.
(function () {
  "use strict";
  var editor = document.querySelector(".editor");
  if (!editor) return;
  var source = document.getElementById("source");
  var counter = document.getElementById("counter");
  var warnings = document.getElementById("warnings");
  var problems = document.getElementById("problems");
  var previews = document.getElementById("previews");
  var highlight = document.getElementById("highlight");
  var channel = editor.dataset.channel;
  var csrf = editor.dataset.csrf;
  var sequence = 0;
  var shown = 0;
  var timer = null;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function drawCounter(data) {
    if (!counter) return;
    var c = data.counter;
    counter.textContent = c ? c.text : "-";
    counter.className = !c ? "" : (c.bytes > c.lms_max ? "over" : (c.kind === "LMS" ? "lms" : "sms"));
    counter.dataset.bytes = c ? c.bytes : "";
    counter.dataset.kind = c ? c.kind : "";
  }

  function drawUnsafe(data) {
    warnings.textContent = "";
    highlight.textContent = "";
    if (!data.unsafe || !data.unsafe.length) return;
    var box = el("p", "warning", "문자(SMS)로 보낼 수 없는 글자가 있습니다 (휴대폰에 '?'로 보이거나 빠집니다): ");
    box.id = "unsafe-warning";
    data.unsafe.forEach(function (u, i) {
      if (i) box.appendChild(document.createTextNode(", "));
      box.appendChild(el("mark", "unsafe", u.char));
      box.appendChild(document.createTextNode(" (" + u.codepoint + ", " + u.line + "번째 줄 " + u.column + "번째 글자)"));
    });
    warnings.appendChild(box);
    var lines = source.value.split("\n");
    var marked = {};
    data.unsafe.forEach(function (u) { (marked[u.line] = marked[u.line] || []).push(u.column); });
    Object.keys(marked).forEach(function (n) {
      var row = el("div", "hl-line");
      row.appendChild(el("span", "hl-no", n + ": "));
      var chars = Array.from(lines[n - 1] || "");
      chars.forEach(function (ch, idx) {
        if (marked[n].indexOf(idx + 1) >= 0 || /[\u{1F000}-\u{1FAFF}]/u.test(ch)) {
          row.appendChild(el("mark", "unsafe", ch));
        } else {
          row.appendChild(document.createTextNode(ch));
        }
      });
      highlight.appendChild(row);
    });
  }

  function drawProblems(data) {
    problems.textContent = "";
    (data.problems || []).forEach(function (p) {
      var li = el("li", "problem", p.text);
      if (p.english) li.title = p.english;
      problems.appendChild(li);
    });
    (data.warnings || []).forEach(function (w) {
      var li = el("li", "caution", "주의: " + w.text);
      li.title = w.english || "";
      problems.appendChild(li);
    });
    if (data.ok) problems.appendChild(el("li", "passed", "모든 견본에서 검사를 통과했습니다"));
  }

  function drawPreview(r) {
    var card = el("section", "card " + r.channel);
    card.appendChild(el("h3", "sample", "견본 " + r.sample + " · " + r.role));
    if (r.channel === "sms") {
      var phone = el("div", "phone");
      var bubble = el("div", "bubble");
      if (r.subject) bubble.appendChild(el("strong", "lms-subject", r.subject));
      bubble.appendChild(el("div", "sms-body", r.body));
      phone.appendChild(bubble);
      phone.appendChild(el("div", "meta", r.bytes + "바이트 · " + r.kind + (r.replaced ? " · 바뀐 글자 " + r.replaced + "개" : "")));
      card.appendChild(phone);
    } else if (r.channel === "email") {
      card.appendChild(el("div", "mail-subject", "제목: " + r.subject));
      if (r.html) {
        var frame = document.createElement("iframe");
        frame.setAttribute("sandbox", "");
        frame.setAttribute("title", "HTML 본문");
        frame.srcdoc = r.html;
        card.appendChild(frame);
      }
      card.appendChild(el("pre", "mail-text", r.body));
    } else {
      var push = el("div", "push");
      push.appendChild(el("strong", "push-title", r.subject || ""));
      push.appendChild(el("div", "push-body", r.body));
      card.appendChild(push);
    }
    return card;
  }

  function draw(data) {
    drawCounter(data);
    drawUnsafe(data);
    drawProblems(data);
    previews.textContent = "";
    (data.renders || []).forEach(function (r) { previews.appendChild(drawPreview(r)); });
    editor.dataset.state = data.ok ? "ok" : "problems";
  }

  function refresh() {
    var mine = ++sequence;
    editor.dataset.pending = "1";
    var body = new FormData();
    body.append("source", source.value);
    fetch(editor.dataset.previewUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRF-Token": csrf}
    }).then(function (res) {
      return res.json().then(function (data) { return {res: res, data: data}; });
    }).then(function (out) {
      if (mine < shown) return;
      shown = mine;
      if (!out.res.ok) {
        draw({problems: [{text: out.data.error || "미리 보기를 만들지 못했습니다"}], renders: [], unsafe: []});
      } else {
        draw(out.data);
      }
      if (mine === sequence) editor.dataset.pending = "";
    }).catch(function () {
      if (mine === sequence) editor.dataset.pending = "";
      problems.textContent = "";
      problems.appendChild(el("li", "problem", "서버에 연결할 수 없어 미리 보기를 만들지 못했습니다"));
    });
  }

  source.addEventListener("input", function () {
    editor.dataset.pending = "1";
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  });

  document.querySelectorAll(".chip[data-insert]").forEach(function (chip) {
    chip.addEventListener("click", function () {
      if (source.readOnly) return;
      var text = chip.dataset.insert;
      var start = source.selectionStart, end = source.selectionEnd;
      source.value = source.value.slice(0, start) + text + source.value.slice(end);
      source.selectionStart = source.selectionEnd = start + text.length;
      source.focus();
      source.dispatchEvent(new Event("input"));
    });
  });

  var testButton = document.getElementById("test-send");
  if (testButton) {
    testButton.addEventListener("click", function () {
      var out = document.getElementById("test-result");
      var body = new FormData();
      body.append("source", source.value);
      testButton.disabled = true;
      fetch(editor.dataset.testUrl, {method: "POST", body: body, credentials: "same-origin",
                                     headers: {"X-CSRF-Token": csrf}})
        .then(function (res) { return res.json(); })
        .then(function (data) {
          out.textContent = data.ok ? ("시험 발송: " + data.to + " (" + data.result + ")") : data.error;
        })
        .catch(function () { out.textContent = "시험 발송을 하지 못했습니다"; })
        .then(function () { testButton.disabled = false; });
    });
  }

  draw(JSON.parse(document.getElementById("initial").textContent));
  editor.dataset.ready = "1";
})();
