"""The rater / admin web application (Flask; served by waitress).

Routes::

    GET  /r/<token>                 the rater's next unanswered item (or "done"), with progress
    GET  /r/<token>/next.json       the same as JSON (for scripts and the load test)
    POST /r/<token>/vote            one vote; 303 to the next item (JSON with Accept: json)
    GET  /r/<token>/video/<vid>     a video of one of *this rater's* items (range requests)
    GET  /admin                     rater progress, export links and the report (admin token: ?token= or Bearer)
    GET  /admin/export.json|.csv    every item and vote (admin token)
    GET  /healthz

Server-rendered pages with a little inline JavaScript: synced playback of the videos of an
item, one audio track at a time, keyboard shortcuts (Space play/pause, 1/2/3 or arrows:
left/same/right, Q/W/E and I/O/P: LSI/MU/ID on the left/right video, 1..9: best-choice
candidate, A: switch audio, Enter: submit). Every vote is committed before the redirect to
the next item, so a rater can close the browser at any point and continue from the link.
Tokens are compared in constant time; videos are served only by opaque id from the
study's own table (no client-supplied path ever reaches the file system).
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from pathlib import Path
from typing import Any

from hxbench.study import db as dbm
from hxbench.study.core import DEFECTS
from hxbench.study.plan import StudyError

VIDEO_ID = re.compile(r"^[0-9a-f]{24}$")
TOKEN_RE = re.compile(r"^[0-9]{1,9}-[A-Za-z0-9_-]{16,128}$")
MAX_PERSONS = 50


class VoteError(ValueError):
    """Invalid rater input (answered 400 with the message)."""


def parse_vote(form: Any, item: dict, cfg: dict) -> dict:
    """Validate the submitted form for ``item``; return the canonical answer dict.

    pair: ``pref`` in left/same/right (required); ``defect_left`` / ``defect_right`` subsets
    of LSI/MU/ID; with DA enabled ``da_persons_<side>`` in 1..50 and ``da_correct_<side>`` in
    0..persons. choice: ``choice`` an integer index into the shown candidates."""
    if item["kind"] == "pair":
        pref = form.get("pref", "")
        if pref not in ("left", "same", "right"):
            raise VoteError("choose left, same or right for the overall preference")
        answer: dict[str, Any] = {"pref": pref, "defects": {}}
        for side in ("left", "right"):
            flags = form.getlist(f"defect_{side}")
            bad = [f for f in flags if f not in DEFECTS]
            if bad or len(set(flags)) != len(flags):
                raise VoteError(f"defect_{side}: each of {', '.join(DEFECTS)} at most once")
            answer["defects"][side] = [d for d in DEFECTS if d in flags]
        if cfg.get("questions", {}).get("da"):
            answer["da"] = {}
            for side in ("left", "right"):
                persons = _int(form.get(f"da_persons_{side}"), f"da_persons_{side}", 1, MAX_PERSONS)
                correct = _int(form.get(f"da_correct_{side}"), f"da_correct_{side}", 0, persons)
                answer["da"][side] = [correct, persons]
        return answer
    choice = _int(form.get("choice"), "choice", 0, len(item["runs"]) - 1)
    return {"choice": choice}


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if value is None or not re.fullmatch(r"[0-9]{1,4}", str(value)):
        raise VoteError(f"{name}: an integer from {lo} to {hi} is required")
    v = int(value)
    if not lo <= v <= hi:
        raise VoteError(f"{name}: {v} is outside {lo}..{hi}")
    return v


def create_app(store: dbm.StudyDB, study_dir: str | Path | None = None, report_boot: int = 200):
    from flask import Flask, Response, abort, redirect, render_template_string, request, send_file

    cfg = store.config()
    app = Flask("hxbench.study")
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024
    app.config["HXBENCH_STORE"] = store

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"  # tokens are in the URL
        resp.headers["X-Frame-Options"] = "DENY"
        if resp.mimetype == "text/html":
            resp.headers["Cache-Control"] = "no-store"
        return resp

    def rater_or_404(token: str) -> dict:
        if not TOKEN_RE.match(token):
            abort(404)
        rater = store.authenticate_rater(token)
        if rater is None:
            abort(404)
        return rater

    def require_admin() -> str:
        """The admin token of the request (query ``token`` or a Bearer header); 403 otherwise."""
        token = request.args.get("token", "")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[7:]
        if not store.authenticate_admin(token):
            abort(403)
        return token

    def wants_json() -> bool:
        return request.accept_mimetypes.best == "application/json"

    @app.get("/")
    def index():
        return render_template_string(PAGE, title="hxbench user study", body=Markup_(
            "<p>Open the personal link you were given to start rating.</p>"), script="", nonce="")

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    @app.get("/r/<token>")
    def rater_page(token: str):
        rater = rater_or_404(token)
        store.touch_rater(rater["id"])
        done, total = store.progress(rater["id"])
        item = store.next_item(rater["id"])
        nonce = secrets.token_urlsafe(12)
        if item is None:
            body = render_template_string(DONE, done=done, total=total)
            return _csp(render_template_string(PAGE, title="Thank you", body=Markup_(body),
                                               script="", nonce=nonce), nonce)
        body = render_template_string(ITEM, item=item, token=token, done=done, total=total,
                                      defects=DEFECTS, da=cfg.get("questions", {}).get("da"),
                                      error=request.args.get("error", "")[:200], n=len(item["runs"]))
        return _csp(render_template_string(PAGE, title=f"Item {done + 1} of {total}", body=Markup_(body),
                                           script=Markup_(SCRIPT), nonce=nonce), nonce)

    def _csp(html_text: str, nonce: str) -> Response:
        resp = Response(html_text, mimetype="text/html")
        resp.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
            "media-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
        return resp

    @app.get("/r/<token>/next.json")
    def rater_next(token: str):
        rater = rater_or_404(token)
        done, total = store.progress(rater["id"])
        item = store.next_item(rater["id"])
        return {"done": done, "total": total,
                "item": None if item is None else {"id": item["id"], "kind": item["kind"],
                                                   "videos": item["video_ids"]}}

    @app.post("/r/<token>/vote")
    def vote(token: str):
        rater = rater_or_404(token)
        raw_id = request.form.get("item_id", "")
        if not re.fullmatch(r"[0-9]{1,9}", raw_id):
            return _fail("item_id: an integer is required", 400)
        item = store.item(int(raw_id))
        if item is None or item["rater_id"] != rater["id"]:
            return _fail("this item is not one of yours", 403)
        try:
            answer = parse_vote(request.form, item, cfg)
        except VoteError as err:
            if wants_json():
                return _fail(str(err), 400)
            return redirect(f"/r/{token}?error={_quote(str(err))}", code=303)
        elapsed = request.form.get("elapsed_ms", "")
        elapsed_ms = int(elapsed) if re.fullmatch(r"[0-9]{1,9}", elapsed) else None
        status = store.record_vote(item["id"], rater["id"], answer, elapsed_ms)
        if wants_json():
            done, total = store.progress(rater["id"])
            return {"status": status, "item_id": item["id"], "done": done, "total": total}
        return redirect(f"/r/{token}", code=303)

    def _fail(message: str, code: int):
        return Response(json.dumps({"error": message}), status=code, mimetype="application/json")

    @app.get("/r/<token>/video/<vid>")
    def video(token: str, vid: str):
        rater = rater_or_404(token)
        if not VIDEO_ID.match(vid):
            abort(404)
        path = store.video_path_for_rater(rater["id"], vid)
        if path is None or not Path(path).is_file():
            abort(404)
        return send_file(path, mimetype="video/mp4", conditional=True, max_age=3600)

    @app.get("/admin")
    def admin():
        token = require_admin()
        from hxbench.study.report import compute, render_admin_html

        rows = store.export()
        rep = compute(rows, list(cfg["runs"]), cfg["protocol"], n_boot=report_boot,
                      seed=int(cfg.get("seed", 0)))
        rep["study"] = {"protocol": cfg["protocol"], "runs": list(cfg["runs"]),
                        "n_samples": len(cfg["samples"]), "missing": cfg["missing"],
                        "n_raters": cfg["n_raters"]}
        progress = {}
        for r in rows:
            p = progress.setdefault(r["rater"], [0, 0])
            p[1] += 1
            p[0] += r["answer"] is not None
        page = render_admin_html(rep, {k: (d, t) for k, (d, t) in progress.items()}, token)
        return Response(page, mimetype="text/html")

    @app.get("/admin/export.json")
    def export_json():
        require_admin()
        return Response(json.dumps({"config": cfg, "items": store.export()}, indent=1),
                        mimetype="application/json")

    @app.get("/admin/export.csv")
    def export_csv():
        require_admin()
        return Response(export_csv_text(store.export()), mimetype="text/csv")

    return app


def export_csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["item_id", "rater", "position", "kind", "sample_id", "runs", "check", "answer",
                "created", "elapsed_ms"])
    for r in rows:
        w.writerow([r["item_id"], r["rater"], r["position"], r["kind"], r["sample_id"],
                    "|".join(r["runs"]), r["check_kind"] or "",
                    "" if r["answer"] is None else json.dumps(r["answer"], sort_keys=True),
                    r["created"] or "", r["elapsed_ms"] if r["elapsed_ms"] is not None else ""])
    return buf.getvalue()


def _quote(s: str) -> str:
    from urllib.parse import quote

    return quote(s, safe="")


def Markup_(s: str):  # noqa: N802
    from markupsafe import Markup

    return Markup(s)


def make_server(study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000,
                db_url: str | None = None, threads: int = 16):
    """A waitress server for the study (``.run()`` serves; ``.close()`` stops)."""
    from waitress import create_server

    from hxbench.study.core import open_db

    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {host}: rater links grant voting access; use HTTPS "
              "(a reverse proxy) outside a trusted network")
    store = open_db(study_dir, db_url)
    app = create_app(store, study_dir)
    server = create_server(app, host=host, port=port, threads=threads, connection_limit=200,
                           channel_timeout=30, ident="hxbench-study")
    server.hxbench_store = store  # type: ignore[attr-defined]
    return server


__all__ = ["create_app", "make_server", "parse_vote", "VoteError", "StudyError"]


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title>
<style>
body{font-family:sans-serif;margin:1em auto;max-width:1200px;color:#222}
.videos{display:flex;gap:1em;flex-wrap:wrap}.videos figure{margin:0;flex:1;min-width:240px}
video{width:100%;background:#000}figcaption{font-weight:bold;margin:.3em 0}
.bar{height:8px;background:#eee;margin:.5em 0}.bar div{height:8px;background:#2a7ab9}
fieldset{margin:.8em 0}label{margin-right:1em;white-space:nowrap}.err{color:#b00}
kbd{border:1px solid #aaa;border-radius:3px;padding:0 3px;font-size:85%}.hint{color:#666;font-size:90%}
</style></head><body>{{ body }}
{% if script %}<script nonce="{{ nonce }}">{{ script }}</script>{% endif %}</body></html>"""

DONE = """<h1>All done - thank you!</h1><p>You have answered {{ done }} of {{ total }} items.
Your answers are saved; you can close this page.</p>"""

ITEM = """<h1>Item {{ done + 1 }} of {{ total }}</h1>
<div class="bar" aria-label="progress"><div style="width:{{ (100 * done / total)|round(1) }}%"></div></div>
<p id="progress">{{ done }} / {{ total }} answered. Watch the videos to the end, then answer.</p>
{% if error %}<p class="err" id="error">{{ error }}</p>{% endif %}
<form method="post" action="/r/{{ token }}/vote" id="voteform" data-kind="{{ item.kind }}">
<input type="hidden" name="item_id" value="{{ item.id }}"><input type="hidden" name="elapsed_ms" id="elapsed" value="">
<div class="videos">
{% for vid in item.video_ids %}{% set side = ('left' if loop.index0 == 0 else 'right') %}
<figure>
<figcaption>{% if item.kind == 'pair' %}{{ side|capitalize }}{% else %}Video {{ loop.index }} <kbd>{{ loop.index }}</kbd>{% endif %}</figcaption>
<video class="sv" id="v{{ loop.index0 }}" src="/r/{{ token }}/video/{{ vid }}" preload="auto" playsinline {% if not loop.first %}muted{% endif %}></video>
{% if item.kind == 'pair' %}
<div>Defects:{% for d in defects %}{% set keys = ('qwe' if side == 'left' else 'iop') %}
<label><input type="checkbox" name="defect_{{ side }}" value="{{ d }}" id="defect_{{ side }}_{{ d }}" data-key="{{ keys[loop.index0] }}"> {{ d }} <kbd>{{ keys[loop.index0]|upper }}</kbd></label>{% endfor %}</div>
{% if da %}<div>Persons <input type="number" min="1" max="50" name="da_persons_{{ side }}" id="da_persons_{{ side }}" required style="width:4em">
correctly animated <input type="number" min="0" max="50" name="da_correct_{{ side }}" id="da_correct_{{ side }}" required style="width:4em"></div>{% endif %}
{% else %}
<label><input type="radio" name="choice" value="{{ loop.index0 }}" id="choice_{{ loop.index0 }}" required> best</label>
{% endif %}
</figure>{% endfor %}
</div>
<p><button type="button" id="play">Play / pause <kbd>Space</kbd></button>
<button type="button" id="audio">Audio: video 1 <kbd>A</kbd></button> <span id="watch" class="hint"></span></p>
{% if item.kind == 'pair' %}
<fieldset><legend>Overall, which video is better?</legend>
<label><input type="radio" name="pref" value="left" id="pref_left" required> Left <kbd>1</kbd></label>
<label><input type="radio" name="pref" value="same" id="pref_same"> Same <kbd>2</kbd></label>
<label><input type="radio" name="pref" value="right" id="pref_right"> Right <kbd>3</kbd></label></fieldset>
<p class="hint">LSI: lip-sync inconsistency; MU: motion unnaturalness; ID: image distortion.</p>
{% else %}<p class="hint">Pick the single best video (<kbd>1</kbd>..<kbd>{{ n }}</kbd>).</p>{% endif %}
<button type="submit" id="submit">Submit <kbd>Enter</kbd></button>
</form>"""

SCRIPT = r"""
(function(){
const t0 = Date.now();
const form = document.getElementById('voteform');
const vids = Array.from(document.querySelectorAll('video.sv'));
const watched = vids.map(() => false);
const submit = document.getElementById('submit');
const note = document.getElementById('watch');
function refresh(){ const ok = watched.every(Boolean); submit.disabled = !ok;
  note.textContent = ok ? 'watched' : 'watch the videos to the end to answer'; }
vids.forEach((v, i) => {
  v.addEventListener('ended', () => { watched[i] = true; refresh();
    if (vids.every(x => x.ended || x.paused)) vids.forEach(x => x.pause()); });
  v.addEventListener('error', () => { watched[i] = true; refresh(); note.textContent = 'a video failed to load'; });
});
const master = vids[0];
master.addEventListener('timeupdate', () => { vids.slice(1).forEach(v => {
  if (!v.paused && !v.ended && Math.abs(v.currentTime - master.currentTime) > 0.08
      && master.currentTime < v.duration) v.currentTime = master.currentTime; }); });
master.addEventListener('seeked', () => vids.slice(1).forEach(v => { v.currentTime = master.currentTime; }));
function playing(){ return vids.some(v => !v.paused && !v.ended); }
function toggle(){
  if (playing()) { vids.forEach(v => v.pause()); return; }
  const restart = vids.every(v => v.ended);
  vids.forEach(v => { if (restart) v.currentTime = 0; else v.currentTime = master.currentTime;
    const p = v.play(); if (p) p.catch(() => {}); });
}
let audio = 0;
function switchAudio(){ audio = (audio + 1) % vids.length; vids.forEach((v, i) => { v.muted = i !== audio; });
  document.getElementById('audio').textContent = 'Audio: video ' + (audio + 1); }
document.getElementById('play').addEventListener('click', toggle);
document.getElementById('audio').addEventListener('click', switchAudio);
function check(id){ const el = document.getElementById(id); if (el) { el.checked = (el.type === 'radio') ? true : !el.checked; } }
document.addEventListener('keydown', (ev) => {
  if (ev.target && ev.target.tagName === 'INPUT' && ev.target.type === 'number') return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key;
  if (k === ' ') { ev.preventDefault(); toggle(); return; }
  if (k === 'a' || k === 'A') { switchAudio(); return; }
  if (k === 'Enter') { ev.preventDefault(); if (!submit.disabled) form.requestSubmit(); return; }
  if (form.dataset.kind === 'pair') {
    const pref = {'1': 'left', '2': 'same', '3': 'right', 'ArrowLeft': 'left', 'ArrowDown': 'same', 'ArrowRight': 'right'}[k];
    if (pref) { ev.preventDefault(); check('pref_' + pref); return; }
    const box = document.querySelector('input[data-key="' + k.toLowerCase() + '"]');
    if (box) { box.checked = !box.checked; }
  } else if (/^[1-9]$/.test(k)) { check('choice_' + (parseInt(k, 10) - 1)); }
});
form.addEventListener('submit', () => { document.getElementById('elapsed').value = String(Date.now() - t0); submit.disabled = true; });
refresh();
})();
"""
