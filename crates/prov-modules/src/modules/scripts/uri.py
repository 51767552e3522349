# prov `uri`: one HTTP request with Python's urllib, as Ansible's uri module makes it.
# The request (secrets included) arrives as JSON on stdin, never in the arguments; the
# response is printed as one JSON object (Ansible's result fields, headers lowercased with
# '-' as '_').
import base64, datetime, http.cookiejar, json, os, re, ssl, sys, tempfile, time
import urllib.error, urllib.parse, urllib.request

spec = json.load(sys.stdin)
url, method = spec["url"], spec["method"]
headers = dict(spec["headers"])


def to_text(v):
    if isinstance(v, bool):
        return "True" if v else "False"
    return v if isinstance(v, str) else str(v)


def form_urlencoded(body):
    if isinstance(body, str):
        return body
    items = body.items() if isinstance(body, dict) else body
    out = []
    for key, values in items:
        if isinstance(values, str) or not isinstance(values, (dict, list)):
            values = [values]
        for value in values:
            if value is not None:
                out.append((to_text(key), to_text(value)))
    return urllib.parse.urlencode(out, doseq=True)


def has_header(name):
    return name.lower() in [h.lower() for h in headers]


body, fmt = spec.get("body"), spec["body_format"]
if fmt == "json":
    if not isinstance(body, str):
        body = json.dumps(body)
    if not has_header("content-type"):
        headers["Content-Type"] = "application/json"
elif fmt == "form-urlencoded" and body is not None:
    body = form_urlencoded(body)
    if not has_header("content-type"):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
data = body.encode() if isinstance(body, str) else None

follow = spec["follow_redirects"]


class Redirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, hdrs, newurl):
        if follow in ("no", "none"):
            return None
        if follow == "safe" and req.get_method() not in ("GET", "HEAD"):
            return None
        new = urllib.request.HTTPRedirectHandler.redirect_request(
            self, req, fp, code, msg, hdrs, newurl)
        if new is not None and follow in ("all", "yes"):
            new.method = req.get_method() if code in (307, 308) else new.get_method()
        return new


ctx = ssl.create_default_context()
if not spec["validate_certs"]:
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
jar = http.cookiejar.CookieJar()
handlers = [urllib.request.HTTPSHandler(context=ctx), Redirects(),
            urllib.request.HTTPCookieProcessor(jar)]
user, password = spec.get("url_username"), spec.get("url_password")
if user is not None and password is not None:
    if spec["force_basic_auth"]:
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        headers["Authorization"] = "Basic " + token
    else:
        mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(None, url, user, password)
        handlers.append(urllib.request.HTTPBasicAuthHandler(mgr))
dest = spec.get("dest")
if dest and os.path.exists(dest) and not os.path.isdir(dest):
    t = datetime.datetime.fromtimestamp(os.path.getmtime(dest), datetime.timezone.utc)
    headers["If-Modified-Since"] = t.strftime("%a, %d %b %Y %H:%M:%S GMT")

opener = urllib.request.build_opener(*handlers)
req = urllib.request.Request(url, data=data, headers=headers, method=method)
start = time.time()
out, resp, content = {}, None, b""
try:
    resp = opener.open(req, timeout=spec["timeout"])
    out["msg"] = "OK (%s bytes)" % resp.headers.get("Content-Length", "unknown")
    out["status"] = resp.status
except urllib.error.HTTPError as e:
    resp = e
    out["msg"] = str(e)
    out["status"] = e.code
except Exception as e:
    out["msg"] = "Request failed: %s" % e
    out["status"] = -1
out["url"] = resp.geturl() if resp is not None else url
out["redirected"] = out["url"] != url
if resp is not None:
    merged = {}
    for k, v in resp.headers.items():
        k = k.lower()
        merged[k] = merged[k] + ", " + v if k in merged else v
    for k, v in merged.items():
        out.setdefault(k.replace("-", "_"), v)
    if "location" in out:
        out["location"] = urllib.parse.urljoin(url, out["location"])
    try:
        content = resp.read()
    except Exception:
        content = b""
out["cookies"] = {c.name: c.value for c in jar}
out["cookies_string"] = "; ".join("%s=%s" % (c.name, c.value) for c in jar)
out["elapsed"] = int(time.time() - start)

ctype = resp.headers.get_content_type() if resp is not None else "application/octet-stream"
charset = (resp.headers.get_content_charset() if resp is not None else None) or "utf-8"
sub = ctype.partition("/")[2]
sub = sub.partition("+")[2] if "+" in sub else sub
text = content.decode(charset, errors="replace")
out["content"] = text
if sub.lower() in ("json", "javascript"):
    try:
        out["json"] = json.loads(text)
    except Exception:
        pass

if dest and resp is not None and out["status"] in spec["status_code"] and out["status"] != 304:
    path = dest
    if os.path.isdir(dest):
        name = None
        cd = resp.headers.get("Content-Disposition", "")
        m = re.search(r'filename="?([^";]+)"?', cd)
        if m:
            name = os.path.basename(m.group(1))
        path = os.path.join(dest, name or "index.html")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)) or ".")
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    if os.path.exists(path):
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    else:
        os.chmod(tmp, 0o666 & ~os.umask(0o022))
    os.replace(tmp, path)
    out["path"] = path
elif dest:
    out["path"] = dest
json.dump(out, sys.stdout)
