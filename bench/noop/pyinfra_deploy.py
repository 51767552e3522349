"""The no-op benchmark deploy for pyinfra: the 10 tasks of noop/prov.yml.

pyinfra has no `stat` operation; `files.file(present=True)` on an existing file reads the same
remote stat (the File fact) and changes nothing. Run with `-y` (no prompt, no pre-check pass).
"""

from pyinfra.operations import files, server

for i in range(1, 6):
    server.shell(name=f"command {i}", commands=["true"])

for i, path in enumerate(["/etc/hostname", "/etc/passwd", "/etc/debian_version"], start=1):
    files.file(name=f"stat {i}", path=path, present=True)

for i, path in enumerate(["/etc", "/var"], start=1):
    files.directory(name=f"directory {i}", path=path, present=True)
