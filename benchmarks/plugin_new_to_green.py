"""How long from `zoo plugin new` to a passing `pytest` in the generated package?

For each kind: `zoo plugin new` into a temporary folder, `pip install -e` of
the package into a throwaway virtual environment that sees this zoo's
environment (no network: --no-deps --no-build-isolation), then `pytest` run
from the package's folder, as its author would. Prints one row per kind and
the total.

    .venv/bin/python benchmarks/plugin_new_to_green.py [KIND ...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from zoo_core.commands.plugin import TEMPLATE_KINDS


def _venv(folder: Path) -> Path:
    """A bare venv whose site-packages also reads this interpreter's (zoo, torch, pip)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    ours = sysconfig.get_paths()["purelib"]
    # an `import` line in a .pth runs at start-up: addsitedir also runs our .pth files
    # (the editable zoo install is one)
    (Path(site.stdout.strip()) / "zoo_parent.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n")
    return python


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def main(kinds: list[str]) -> None:
    zoo = str(Path(sys.executable).with_name("zoo"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="zoo-plugin-bench-") as tmp:
        root = Path(tmp)
        env["ZOO_HOME"] = str(root / "zoo-home")
        for kind in kinds:
            python = _venv(root / f"venv-{kind}")
            name = f"zoo-bench-{kind}"
            new = _timed([zoo, "plugin", "new", name, "--kind", kind, "--out", str(root)],
                         root, env)
            pkg = root / name
            install = _timed([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                              "--no-build-isolation", "-e", "."], pkg, env)
            test = _timed([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          pkg, env)
            rows.append((kind, new, install, test))
            print(f"{kind:13s} new {new:5.1f}s  pip install -e {install:5.1f}s  "
                  f"pytest {test:5.1f}s  total {new + install + test:5.1f}s", flush=True)
    total = sum(r[1] + r[2] + r[3] for r in rows)
    print(f"all {len(rows)} kinds: {total:.1f}s ({total / len(rows):.1f}s per kind); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(TEMPLATE_KINDS))
