# get_url's downloader and hashes (after the quoted variables the module sets: `algo`...).
# prov_fetch FILE [IMS_PATH]: downloads the request on stdin into FILE and prints
# `HTTP <code> <reason>`; a transport failure prints `HTTP 0 <why>`. Stdin is one JSON line for
# python3 (url, headers, timeout, validate_certs) then a curl config for curl, so that no URL
# or header (an Authorization header is a secret) ever appears in a command line.
prov_fetch() {
  IFS= read -r prov_json
  if command -v curl >/dev/null 2>&1; then
    f=$1
    if [ -n "${2:-}" ]; then
      code=$(curl -sS -L -o "$f" -w '%{http_code}' -z "$2" -K - 2>"$f.err"); rc=$?
    else
      code=$(curl -sS -L -o "$f" -w '%{http_code}' -K - 2>"$f.err"); rc=$?
    fi
    if [ $rc -ne 0 ]; then echo "HTTP 0 curl: $(tr '\n' ' ' < "$f.err")"; else echo "HTTP $code"; fi
    rm -f -- "$f.err"
  elif command -v python3 >/dev/null 2>&1; then
    printf '%s\n' "$prov_json" | python3 -c '
import email.utils, json, os, ssl, sys, urllib.error, urllib.request
a = json.loads(sys.stdin.readline())
ctx = None if a["validate_certs"] else ssl._create_unverified_context()
req = urllib.request.Request(a["url"], headers=a["headers"])
if len(sys.argv) > 2 and sys.argv[2]:
    req.add_header("If-Modified-Since", email.utils.formatdate(os.stat(sys.argv[2]).st_mtime, usegmt=True))
try:
    r = urllib.request.urlopen(req, timeout=a["timeout"], context=ctx)
except urllib.error.HTTPError as e:
    print("HTTP", e.code, e.reason)
    sys.exit(0)
except Exception as e:
    print("HTTP 0", str(e).replace("\n", " "))
    sys.exit(0)
with open(sys.argv[1], "wb") as f:
    while True:
        b = r.read(65536)
        if not b:
            break
        f.write(b)
print("HTTP", r.status, "OK (%s bytes)" % r.headers.get("Content-Length", "unknown"))
' "$1" "${2:-}"
  else
    echo "HTTP 0 neither curl nor python3 is installed on the host"
  fi
}

# prov_sums FILE: `<sha1> <sha256> <digest in $algo, or ->`.
prov_sums() {
  s1=$(sha1sum < "$1") && s2=$(sha256sum < "$1") || return 1
  dg=-
  if [ -n "$algo" ]; then dg=$("${algo}sum" < "$1") || return 1; dg=${dg%% *}; fi
  echo "${s1%% *} ${s2%% *} $dg"
}
