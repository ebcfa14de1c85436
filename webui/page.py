"""The HTML of /torbox: one request, inline CSS, no external assets, readable without JS.

The optional script only re-fetches the page and swaps <main>; the CSP allows exactly
this script and this stylesheet by hash.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import bottle

CSS = (
    "*{box-sizing:border-box}"
    "body{margin:0;font:16px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#f4f4f6}"
    "header{background:#3b1f5c;color:#fff;padding:.6em 1em}"
    "header h1{margin:0;font-size:1.2em}"
    "main{max-width:44em;margin:0 auto;padding:.5em 1em 2em}"
    "h2{font-size:1.05em;margin:1.3em 0 .4em;border-bottom:1px solid #ccc}"
    ".b{padding:.6em .8em;border-left:.4em solid;border-radius:.3em;margin:.6em 0;background:#fff}"
    ".ok{border-color:#1a7f37}.warn{border-color:#b08000;background:#fff8e0}"
    ".bad{border-color:#c0262d;background:#fde8e8}"
    "dl{display:grid;grid-template-columns:minmax(7em,auto) 1fr;gap:.2em .8em;margin:0}"
    "dt{color:#555}dd{margin:0;overflow-wrap:anywhere}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25em .4em;"
    "border-bottom:1px solid #ddd;vertical-align:top}"
    "svg{width:100%;height:5em;background:#fff;border:1px solid #ddd}"
    ".r{stroke:#1a7f37}.w{stroke:#3b1f5c}polyline{fill:none;stroke-width:1.5}"
    ".k{display:inline-block;width:.9em;height:.25em;vertical-align:middle;margin:0 .3em}"
    ".kr{background:#1a7f37}.kw{background:#3b1f5c}"
    "button,input{font:inherit;padding:.35em .8em}form{display:inline-block;margin:.2em .4em .2em 0}"
    "small,.m{color:#555}"
)

# Re-fetch the page every data-refresh seconds and swap <main>; say so when the router is gone.
SCRIPT = (
    "(function(){var s=+document.body.dataset.refresh;if(!s)return;"
    "setInterval(function(){var a=document.activeElement;if(a&&a.tagName=='INPUT')return;"
    "fetch(location.pathname,{cache:'no-store'}).then(function(r){return r.text()})"
    ".then(function(t){var m=new DOMParser().parseFromString(t,'text/html')"
    ".querySelector('main');if(m)document.querySelector('main').replaceWith(m)})"
    ".catch(function(){var e=document.getElementById('live');"
    "if(e)e.textContent='Cannot reach the router: the page is not updating.'})},s*1000)})()"
)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = (
    "default-src 'none'; style-src " + _sha256(CSS) + "; script-src " + _sha256(SCRIPT)
    + "; connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

HEAD = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width,initial-scale=1">'
    '<link rel="icon" href="data:,"><style>' + CSS + "</style>"
)

STATUS_TPL = bottle.SimpleTemplate(HEAD + """<title>{{v['title']}}</title>
% if v['refresh']:
<noscript><meta http-equiv="refresh" content="{{v['refresh']}}"></noscript>
% end
</head><body data-refresh="{{v['refresh']}}"><header><h1>torbox status</h1></header>
<main>
<p class="b {{v['tor_class']}}"><b>{{v['tor_headline']}}</b><br>{{v['tor_detail']}}</p>
<p class="b {{v['you_class']}}"><b>{{v['you_headline']}}</b><br>{{v['you_detail']}}</p>
% if v['flash']:
<p class="b {{v['flash_class']}}" role="status">{{v['flash']}}</p>
% end
<h2>Tor</h2><dl>
% for k, val in v['tor_rows']:
<dt>{{k}}</dt><dd>{{val}}</dd>
% end
</dl>
<h2>Traffic through Tor</h2>
<p><span class="k kr"></span>read {{v['read']}}
<span class="k kw"></span>written {{v['written']}}
<small>{{v['graph_note']}}</small></p>
{{!v['svg']}}
<h2>Networks</h2><table><tr><th>Network</th><th>What it does</th><th>Clients</th></tr>
% for n in v['networks']:
<tr><td>{{n['label']}}</td><td>{{n['does']}}</td><td>{{n['clients']}}</td></tr>
% end
</table>
<h2>Router</h2><dl>
% for k, val in v['router_rows']:
<dt>{{k}}</dt><dd>{{val}}</dd>
% end
</dl>
<h2>Actions</h2>
% if v['actions'] == 'ready':
<form method="post" action="/torbox/newnym"><input type="hidden" name="csrf"
 value="{{v['csrf']}}"><button>New identity (new Tor circuits)</button></form>
<form method="post" action="/torbox/logout"><input type="hidden" name="csrf"
 value="{{v['csrf']}}"><button>Log out</button></form>
% elif v['actions'] == 'login':
<p><a href="/torbox/login">Log in</a> to change things (new identity).</p>
% else:
<p class="m">{{v['actions_note']}}</p>
% end
<p class="m" id="live"><small>Updated {{v['updated']}}. As JSON:
<a href="/torbox/api/status">/torbox/api/status</a></small></p>
</main><script>""" + SCRIPT + """</script></body></html>""")

PLAIN_TPL = bottle.SimpleTemplate(HEAD + """<title>{{title}}</title></head><body>
<header><h1>torbox</h1></header><main><h2>{{title}}</h2>
% if msg:
<p class="b {{cls}}">{{msg}}</p>
% end
% if form:
<form method="post" action="/torbox/login"><p><label>Admin secret<br>
<input type="password" name="secret" autocomplete="current-password" required autofocus></label></p>
<p><button>Log in</button></p></form>
<p class="m"><small>The secret is in {{secret_path}} on the router (readable by root only):
<code>ssh root@{{host}} cat {{secret_path}}</code></small></p>
% end
<p><a href="/torbox">Back to the status page</a></p></main></body></html>""")


def render_status(view: dict[str, Any]) -> str:
    return STATUS_TPL.render(v=view)


def render_plain(title: str, msg: str = "", cls: str = "warn", form: bool = False,
                 secret_path: str = "", host: str = "") -> str:
    return PLAIN_TPL.render(title=title, msg=msg, cls=cls, form=form, secret_path=secret_path,
                            host=host)


def svg_graph(read: list[int], written: list[int], points: int) -> str:
    """Two polylines of bytes/s, newest on the right; numbers only, so safe to inline."""
    if len(read) < 2:
        return ('<svg viewBox="0 0 300 60" role="img" aria-label="no traffic data yet">'
                '<text x="150" y="35" text-anchor="middle" font-size="11" fill="#777">'
                "collecting data</text></svg>")
    top = max(max(read), max(written), 1)
    step = 300 / max(points - 1, 1)
    x0 = 300 - step * (len(read) - 1)

    def line(values: list[int]) -> str:
        return " ".join(f"{x0 + i * step:.0f},{58 - 56 * v / top:.0f}" for i, v in enumerate(values))

    return ('<svg viewBox="0 0 300 60" preserveAspectRatio="none" role="img" '
            'aria-label="traffic graph">'
            f'<polyline class="r" points="{line(read)}"/>'
            f'<polyline class="w" points="{line(written)}"/></svg>')
