"""The realistic benchmark deploy for pyinfra: the 14 tasks and the handler of play.yml.

pyinfra has no register/assert: the command task and the stat + assert pair are one
`server.shell` each that checks the same thing on the host (cat, test the mode). The handler is
a `systemd.service(restarted=True)` run only when the configuration or the unit changed. Run with
`-y` (no prompt, no pre-check pass).
"""

from io import StringIO

from pyinfra import host
from pyinfra.facts.server import Hostname
from pyinfra.operations import apt, files, server, systemd

APP_USER = "benchapp"
APP_PORT = 8080
APP_DIRS = ["/srv/bench", "/srv/bench/conf", "/srv/bench/data", "/srv/bench/log"]
HOSTNAME = host.get_fact(Hostname).split(".")[0]
ADDRESS = host.data.ssh_hostname
UNIT = f"""[Unit]
Description=bench app
[Service]
User={APP_USER}
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
"""

apt.packages(name="packages", packages=["zip", "unzip"])
server.user(name="service user", user=APP_USER, shell="/bin/bash", home=f"/home/{APP_USER}",
            create_home=True)
for d in APP_DIRS:
    files.directory(name="directories", path=d, user=APP_USER, mode="755")
conf = files.template(
    name="configuration", src="bench/realistic/templates/app.conf.j2",
    dest="/srv/bench/conf/app.conf", user=APP_USER, mode="640",
    ansible_hostname=HOSTNAME, ansible_all_ipv4_addresses=[ADDRESS], app_port=APP_PORT,
    app_user=APP_USER, app_dirs=APP_DIRS,
)
files.put(name="banner", src="bench/realistic/files/banner.txt", dest="/etc/bench-banner",
          mode="644")
unit = files.put(name="unit", src=StringIO(UNIT), dest="/etc/systemd/system/bench-app.service",
                 mode="644")
files.line(name="defaults", path="/etc/default/bench-app", line="^BENCH_OPTS=",
           replace=f'BENCH_OPTS="--port {APP_PORT}"')
files.block(name="hosts block", path="/etc/bench-hosts",
            content=f"{HOSTNAME} {ADDRESS}\nbench-app {ADDRESS}")
systemd.service(name="service", service="bench-app", running=True, enabled=True,
                daemon_reload=True)
server.shell(name="read configuration", commands=["cat /srv/bench/conf/app.conf"])
server.shell(name="configuration is right", commands=[
    f"test \"$(stat -c %a /srv/bench/conf/app.conf)\" = 640 && "
    f"grep -q 'port = {APP_PORT}' /srv/bench/conf/app.conf"
])
files.link(name="current link", path="/srv/bench/current", target="/srv/bench/conf")
files.file(name="log file", path="/srv/bench/log/app.log", user=APP_USER)
systemd.service(name="restart bench-app", service="bench-app", restarted=True,
                _if=lambda: conf.did_change() or unit.did_change())
