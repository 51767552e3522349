# Undoes bench/realistic/play.yml on a host (run by bench/run over SSH before a fresh converge).
systemctl disable --now bench-app >/dev/null 2>&1 || true
rm -f /etc/systemd/system/bench-app.service /etc/bench-banner /etc/default/bench-app /etc/bench-hosts
systemctl daemon-reload
userdel -r benchapp >/dev/null 2>&1 || true
rm -rf /srv/bench
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q zip unzip >/dev/null
