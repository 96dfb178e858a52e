import subprocess
import sys


def test_import_digitlab_does_not_import_torch():
    code = "import digitlab, digitlab.data, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_help_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "digitlab.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "data" in proc.stdout
