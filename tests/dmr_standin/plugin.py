"""Installing the stand-in as the `docker-model` CLI plugin the real docker CLI and Compose find.

`install(dir, home)` writes `dir/docker-model`, a launcher bound to this interpreter, this
source tree and `home`. To play "plugin missing", call `uninstall(dir)`: the docker CLI then
answers `docker model …` with its own "unknown command" error and Compose with
`'models' support requires Docker Model plugin`.
"""

from __future__ import annotations

import sys
from pathlib import Path

PLUGIN_NAME = "docker-model"
PACKAGE_PARENT = Path(__file__).resolve().parent.parent

LAUNCHER = """#!{python} -IS
import sys
sys.path.insert(0, {parent!r})
if sys.argv[1:] == ["docker-cli-plugin-metadata"]:
    from dmr_standin.metadata import main as metadata
    sys.exit(metadata({home!r}))
from dmr_standin.cli import main
sys.exit(main(sys.argv[1:], home={home!r}))
"""


def install(cli_plugins_dir: Path, home: Path) -> Path:
    python = Path(sys.executable).resolve()
    if len(str(python)) + 5 > 127:
        raise RuntimeError(f"interpreter path too long for a shebang: {python}")
    cli_plugins_dir = Path(cli_plugins_dir)
    cli_plugins_dir.mkdir(parents=True, exist_ok=True)
    target = cli_plugins_dir / PLUGIN_NAME
    text = LAUNCHER.format(python=python, parent=str(PACKAGE_PARENT), home=str(Path(home).resolve()))
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(target)
    return target


def uninstall(cli_plugins_dir: Path) -> None:
    (Path(cli_plugins_dir) / PLUGIN_NAME).unlink(missing_ok=True)
