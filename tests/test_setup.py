"""The setup command without Python 3.10 stops at once, says what to install, leaves nothing."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bootstrap_without_python_310(tmp_path):
    work = tmp_path / "clone"
    (work / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", work / "scripts" / "bootstrap.sh")
    for f in ("requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / f, work / f)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "ls", "sort", "tail", "rm", "dirname", "env"):
        path = shutil.which(tool)
        if path:
            os.symlink(path, bin_dir / tool)
    result = subprocess.run(["bash", "scripts/bootstrap.sh"], cwd=work, env={"PATH": str(bin_dir)},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "Python 3.10" in result.stderr and "pyenv install 3.10" in result.stderr
    assert not (work / ".venv").exists()
