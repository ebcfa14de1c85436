"""The bottle app: /torbox (HTML), /torbox/api/status (JSON) and the POST-only actions.

Requests never talk to Tor or read /proc themselves (monitors do that in the background,
often only while the page has visitors), so the page answers quickly whatever state Tor
is in. Actions (design §3 rule 9) need: POST, a Host that is one of the router's
addresses, a same-origin Origin/Referer, a visitor on a network with `admin 1`, a login
session, and that session's CSRF token.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any

import bottle

from . import page, ujson
from .auth import SESSION_TTL_S, Auth
from .torstate import GRAPH_POINTS

log = logging.getLogger("torbox.webui")

API_VERSION = 1
COOKIE = "torbox_sid"

MODE_DOES = {
    "off": "Normal internet, not through Tor",
    "medium": "All TCP and DNS through Tor; other traffic blocked",
    "max": "No direct internet; only Tor-aware programs via SOCKS",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": page.CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin (not no-referrer): browsers then send a real Origin on our own POSTs
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def human_duration(s: int | float | None) -> str:
    if s is None:
        return "unknown"
    s = int(s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


class StatusApp:
    def __init__(self, cfg: Any, tor: Any, system: Any, auth: Auth,
                 versions: dict[str, Any], extra_hosts: tuple[str, ...] = ()) -> None:
        self.cfg = cfg
        self.tor = tor
        self.system = system
        self.auth = auth
        self.versions = versions
        self.hosts = {str(n.router) for n in cfg.networks.values()} | set(extra_hosts)
        if any(ipaddress.ip_address(h).is_loopback for h in extra_hosts if _is_ip(h)):
            self.hosts.add("localhost")
        self.app = bottle.Bottle()
        self._routes()

    # -- request context ---------------------------------------------------------------------

    def visitor(self) -> Any:
        """The visitor's network: the listener's network when the server knows it, else by IP."""
        env = bottle.request.environ
        ip = env.get("REMOTE_ADDR", "")
        label = env.get("torbox.network")
        if label:
            net = self.cfg.networks.get(label)
            if net is None or not net.enabled:
                return None
            if env.get("torbox.trusted"):
                return net
            try:
                return net if ipaddress.ip_address(ip) in net.subnet else None
            except ValueError:
                return None
        net = self.cfg.network_of(ip)
        return net if net is not None and net.enabled else None

    def host_ok(self) -> bool:
        host = bottle.request.get_header("Host", "")
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        if name.startswith("["):
            name = name[1:].split("]")[0]
        return name in self.hosts

    def same_origin(self) -> bool:
        host = bottle.request.get_header("Host", "")
        origin = bottle.request.get_header("Origin")
        if origin is not None:
            return origin == f"http://{host}"
        referer = bottle.request.get_header("Referer")
        return referer is not None and referer.startswith(f"http://{host}/")

    def session(self) -> dict[str, Any] | None:
        return self.auth.session(bottle.request.get_cookie(COOKIE))

    # -- data --------------------------------------------------------------------------------

    def status(self, visitor: Any) -> dict[str, Any]:
        """The API document (fields listed in webui/README.md, "JSON API")."""
        admin = bool(visitor is not None and visitor.admin)
        self.system.wanted()
        self.tor.wanted()
        sysd = self.system.snapshot() or {}
        tor = self.tor.snapshot()
        tor["version"] = tor["version"] or None
        nets = []
        for n in sysd.get("networks", []):
            item = {k: n[k] for k in ("name", "mode", "enabled", "router", "subnet", "admin",
                                      "up", "clients", "leases")}
            item["ssid"] = n["ssid"] if admin or not n["hidden"] else None
            nets.append(item)
        wan = dict(sysd.get("wan") or {})
        if not admin:  # the uplink address could identify the user; admins only
            wan["address"] = None
            wan["device"] = None
        mem = sysd.get("memory") or {}
        return {
            "api": API_VERSION,
            "time": int(time.time()),
            "visitor": {
                "network": visitor.name if visitor else None,
                "mode": visitor.mode if visitor else None,
                "admin": admin,
            },
            "tor": tor,
            "networks": nets,
            "wan": wan,
            "system": {
                "uptime_s": sysd.get("uptime_s"),
                "mem_total_kb": mem.get("total_kb"),
                "mem_available_kb": mem.get("available_kb"),
                "load": sysd.get("load"),
                "clock_ok": sysd.get("clock_ok"),
            },
            "versions": {**self.versions, "tor": tor["version"]},
        }

    def view(self, data: dict[str, Any], visitor: Any, sess: dict[str, Any] | None) -> dict:
        tor = data["tor"]
        state = tor["state"]
        clock = tor["clock"]
        clock_ok = data["system"]["clock_ok"]
        clock_text = "OK"
        if clock["problem"]:
            skew = clock["skew_s"]
            clock_text = ("Tor reports the router's clock is wrong"
                          + (f" by {human_duration(abs(skew))}" if skew else "")
                          + ": Tor cannot trust the network until it is fixed (NTP).")
        elif clock_ok is False:
            clock_text = "The router's clock is not set yet (waiting for NTP)."
        if state == "ok":
            cls, head = "ok", "Tor is working"
            detail = "Circuits are ready."
            if tor["bootstrapped_s"] is not None:
                detail += f" Connected {human_duration(tor['bootstrapped_s'])} ago."
        elif state == "starting":
            cls = "warn"
            head = f"Tor is connecting: {tor['bootstrap']} %"
            detail = tor["phase"] or "Starting."
            if tor["warning"]:
                detail += f" Problem: {tor['warning']}."
        elif state == "not_answering":
            cls, head, detail = "bad", "Tor is not answering", tor["error"] or ""
        else:
            cls, head, detail = "bad", "Tor is not running", tor["error"] or ""
        if clock_text != "OK":
            cls = "bad" if cls == "ok" else cls
            detail += " " + clock_text

        tor_up = state == "ok"
        if visitor is None:
            ycls, yhead = "warn", "Your network is not a torbox network"
            ydetail = (f"Your address {bottle.request.environ.get('REMOTE_ADDR', '?')} "
                       "is outside tor_off, tor_medium and tor_max.")
        elif visitor.mode == "off":
            ycls, yhead = "warn", f"You are on {visitor.name}: your traffic does NOT go through Tor"
            ydetail = ("Websites see this router's internet address. Join tor_medium or tor_max "
                       "for Tor.")
        elif visitor.mode == "medium":
            ycls = "ok" if tor_up else "warn"
            yhead = f"You are on {visitor.name}: all your TCP and DNS go through Tor"
            ydetail = ("UDP (other than DNS), ICMP and IPv6 to the internet are blocked."
                       if tor_up else "Tor is not ready, so nothing from this network reaches "
                       "the internet yet: there is no fallback to a direct connection.")
        else:
            ycls = "ok" if tor_up else "warn"
            yhead = f"You are on {visitor.name}: no direct internet"
            ydetail = (f"Only Tor-aware programs get out: Tor Browser, or SOCKS5 at "
                       f"{visitor.router}:{self.cfg.tor.socks_port} with remote DNS.")

        br = tor["bridges"]
        if br["enabled"]:
            bridges = f"{', '.join(br['transports'])} ({br['configured']} configured"
            bridges += f", {br['up']} up)" if br["up"] is not None else ")"
        else:
            bridges = "not used"
        tor_rows = [
            ("Bootstrap", f"{tor['bootstrap']} %" + (f" – {tor['phase']}" if tor["phase"] else "")),
            ("Circuits", "established" if tor["circuit_established"] else "not established"),
            ("Clock", clock_text),
            ("Bridges", bridges),
            ("Connected for", human_duration(tor["bootstrapped_s"])
             if tor["bootstrapped_s"] is not None else ("–" if not tor_up else "unknown")),
            ("Tor running for", human_duration(tor["uptime_s"])),
            ("Tor version", tor["version"] or "unknown"),
        ]
        if tor["warning"]:
            tor_rows.append(("Last problem", tor["warning"]))

        networks = []
        for n in data["networks"]:
            label = n["name"] + (" (you)" if visitor is not None and visitor.name == n["name"]
                                 else "")
            does = MODE_DOES[n["mode"]] + (", admin" if n["admin"] else "")
            if not n["enabled"]:
                does = "switched off"
            elif not n["up"]:
                does += " (link down)"
            networks.append({"label": label, "does": does, "clients": str(n["clients"])})

        wan = data["wan"]
        wan_text = "up" if wan.get("up") else "down"
        if wan.get("address"):
            wan_text += f", {wan['address']} on {wan['device']}"
        if wan.get("up") and not wan.get("default_route"):
            wan_text += " (no default route)"
        s = data["system"]
        mem = (f"{human_bytes((s['mem_available_kb'] or 0) * 1024)} free of "
               f"{human_bytes((s['mem_total_kb'] or 0) * 1024)}"
               if s["mem_total_kb"] else "unknown")
        v = data["versions"]
        vers = " · ".join(f"{k} {v[k]}" for k in ("torbox", "tor", "python", "stem", "bottle")
                          if v.get(k))
        router_rows = [
            ("Internet (WAN)", wan_text),
            ("Uptime", human_duration(s["uptime_s"])),
            ("Memory", mem),
            ("Load", f"{s['load']:.2f}" if s["load"] is not None else "unknown"),
            ("System", v.get("os") or "unknown"),
            ("Versions", vers),
        ]

        actions, note, csrf = "none", "", ""
        if visitor is None or not visitor.admin:
            admins = [n.name for n in self.cfg.networks.values() if n.admin and n.enabled]
            note = ("Actions (new identity) can only be used from "
                    + (" or ".join(admins) or "an admin network") + ".")
        elif not self.auth.enabled:
            note = self.auth.error or "Actions are disabled."
        elif sess is not None:
            actions, csrf = "ready", sess["csrf"]
        else:
            actions = "login"
        flash, flash_class = None, "ok"
        if sess is not None and sess.get("flash"):
            flash, flash_class = sess["flash"]
            sess["flash"] = None
        traffic = tor["traffic"]
        graph = traffic["graph"]
        return {
            "title": f"torbox: {head}",
            "refresh": self.cfg.webui.refresh_s,
            "tor_class": cls, "tor_headline": head, "tor_detail": detail,
            "you_class": ycls, "you_headline": yhead, "you_detail": ydetail,
            "flash": flash, "flash_class": flash_class,
            "tor_rows": tor_rows,
            "read": human_bytes(traffic["read"]), "written": human_bytes(traffic["written"]),
            "graph_note": f"(last {len(graph['read']) * graph['step_s'] // 60} min, bytes/s)"
            if len(graph["read"]) > 1 else "",
            "svg": page.svg_graph(graph["read"], graph["written"], GRAPH_POINTS),
            "networks": networks,
            "router_rows": router_rows,
            "actions": actions, "actions_note": note, "csrf": csrf,
            "updated": time.strftime("%H:%M:%S"),
        }

    # -- routes ------------------------------------------------------------------------------

    def _routes(self) -> None:
        app = self.app

        @app.hook("before_request")
        def _check_host() -> None:
            if not self.host_ok():
                raise bottle.HTTPError(400, "Unknown Host: open the page by the router's address.")

        @app.hook("after_request")
        def _headers() -> None:
            for k, v in SECURITY_HEADERS.items():
                bottle.response.set_header(k, v)

        for code in (400, 403, 404, 405, 500):
            app.error(code)(self._error_page)

        app.route("/", "GET", lambda: bottle.redirect("/torbox", 303))
        app.route("/torbox", "GET", self.page)
        app.route("/torbox/", "GET", self.page)
        app.route("/torbox/api/status", "GET", self.api)
        app.route("/torbox/login", "GET", self.login_form)
        app.route("/torbox/login", "POST", self.login)
        app.route("/torbox/logout", "POST", self.logout)
        app.route("/torbox/newnym", "POST", self.newnym)

    def _error_page(self, err: bottle.HTTPError) -> str:
        for k, v in SECURITY_HEADERS.items():
            bottle.response.set_header(k, v)
        msg = err.body if isinstance(err.body, str) and err.status_code != 500 else ""
        if err.status_code == 500:
            msg = "Something went wrong on the router; the details are in its log."
        return page.render_plain(err.status_line, msg, "bad")

    def page(self) -> str:
        visitor = self.visitor()
        sess = self.session() if visitor is not None and visitor.admin else None
        try:
            return page.render_status(self.view(self.status(visitor), visitor, sess))
        except Exception:  # the page must answer even when a reader breaks
            log.exception("rendering the status page")
            return page.render_plain("torbox status", "The status cannot be shown right now; "
                                     "the details are in the router's log.", "bad")

    def api(self) -> str:
        bottle.response.content_type = "application/json"
        try:
            return ujson.dumps(self.status(self.visitor()), separators=(",", ":"))
        except Exception:
            log.exception("building the status document")
            bottle.response.status = 500
            return ujson.dumps({"api": API_VERSION, "error": "status unavailable"})

    # -- actions -----------------------------------------------------------------------------

    def _refuse(self, code: int, msg: str) -> str:
        bottle.response.status = code
        return page.render_plain("Not allowed", msg, "bad")

    def _admin_gate(self) -> str | None:
        """None when the request may act; else the reason."""
        visitor = self.visitor()
        if visitor is None or not visitor.admin:
            return "Actions can only be used from a network that may administer the router."
        if not self.same_origin():
            return "This request did not come from the torbox page (Origin check failed)."
        return None

    def login_form(self) -> str:
        visitor = self.visitor()
        if visitor is None or not visitor.admin:
            return self._refuse(403, "Log in from a network that may administer the router.")
        host = bottle.request.get_header("Host", "").split(":")[0]
        return page.render_plain("Log in", self.auth.error or "", "bad", form=self.auth.enabled,
                                 secret_path=self.auth.secret_path or "", host=host)

    def login(self) -> Any:
        reason = self._admin_gate()
        if reason:
            return self._refuse(403, reason)
        sid, msg = self.auth.login(bottle.request.forms.getunicode("secret") or "")
        if sid is None:
            bottle.response.status = 403
            host = bottle.request.get_header("Host", "").split(":")[0]
            return page.render_plain("Log in", msg, "bad", form=self.auth.enabled,
                                     secret_path=self.auth.secret_path or "", host=host)
        bottle.response.add_header(
            "Set-Cookie",
            f"{COOKIE}={sid}; Path=/torbox; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_S}",
        )
        bottle.response.status = 303
        bottle.response.set_header("Location", "/torbox")
        return ""

    def _checked_session(self) -> tuple[dict[str, Any] | None, str | None]:
        reason = self._admin_gate()
        if reason:
            return None, reason
        sess = self.session()
        if sess is None:
            return None, "Log in first."
        if not Auth.csrf_ok(sess, bottle.request.forms.get("csrf")):
            return None, "The form was stale or forged (CSRF token mismatch): reload the page."
        return sess, None

    def logout(self) -> Any:
        sess, reason = self._checked_session()
        if sess is None:
            return self._refuse(403, reason or "")
        self.auth.logout(bottle.request.get_cookie(COOKIE))
        bottle.response.add_header(
            "Set-Cookie", f"{COOKIE}=; Path=/torbox; HttpOnly; SameSite=Strict; Max-Age=0")
        bottle.response.status = 303
        bottle.response.set_header("Location", "/torbox")
        return ""

    def newnym(self) -> Any:
        sess, reason = self._checked_session()
        if sess is None:
            return self._refuse(403, reason or "")
        result = self.tor.newnym()
        log.info("new identity requested from the status page: %s",
                 "delayed" if result.get("delay_s") else ("ok" if result["ok"] else "failed"))
        sess["flash"] = (result["message"],
                         "ok" if result["ok"] and not result["delay_s"] else "warn")
        bottle.response.status = 303
        bottle.response.set_header("Location", "/torbox")
        return ""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def create_app(cfg: Any, tor: Any, system: Any, auth: Auth, versions: dict[str, Any],
               extra_hosts: tuple[str, ...] = ()) -> bottle.Bottle:
    return StatusApp(cfg, tor, system, auth, versions, extra_hosts).app
