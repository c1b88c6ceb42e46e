"""The wheel: one import root, ``govflow``, that installs beside a project with its own ``flows/``.

Built from this repository, installed into a fresh virtual environment (its dependencies are
borrowed from the running interpreter through a ``.pth`` line, so nothing is downloaded), and
imported from a folder that has a ``flows/`` package of its own, as a user's Prefect project has.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

IMPORT_EVERYTHING = textwrap.dedent("""
    import importlib, pkgutil, sys
    import govflow
    names = [m.name for m in pkgutil.walk_packages(govflow.__path__, "govflow.")
             if ".migrations.versions." not in m.name]
    for name in names:
        importlib.import_module(name)
    import flows
    assert flows.__file__.startswith(sys.argv[1]), flows.__file__   # the user's own, not ours
    for name in ("checks", "governance"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        raise SystemExit(f"'import {name}' worked: govflow must install one import root only")
    print(len(names), "modules")
""")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(ROOT)], check=True, capture_output=True, text=True)
    (built,) = out.glob("govflow-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_installs_one_import_root(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    borrowed = [p for p in sys.path if p.endswith("site-packages")]
    (Path(site) / "deps.pth").write_text("\n".join(borrowed) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True, text=True)

    project = tmp_path / "users-project"
    (project / "flows").mkdir(parents=True)
    (project / "flows" / "__init__.py").write_text("")
    done = subprocess.run([python, "-c", IMPORT_EVERYTHING, str(project)], cwd=project,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[0]) > 80

    cli = subprocess.run([venv / "bin" / "govflow", "--help"], cwd=project, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "verify" in cli.stdout


def test_the_wheel_ships_its_types(wheel: Path) -> None:
    """``py.typed``: a user's type checker reads govflow's annotations (a recorded task keeps its signature)."""
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "govflow/py.typed" in names
    assert "govflow/flows/recorded.py" in names and "govflow/api.py" in names
