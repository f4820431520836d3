"""`python -m mistral_lab_rpc install-pth`: write the .pth that loads the hook at interpreter start, beside
this package in site-packages (run once by the image build; a wheel cannot place a top-level .pth portably)."""
from __future__ import annotations

import sys
from pathlib import Path

PTH_NAME = "mistral_lab_rpc.pth"
PTH_LINE = "import mistral_lab_rpc.boot\n"


def install_pth() -> Path:
    path = Path(__file__).resolve().parent.parent / PTH_NAME
    path.write_text(PTH_LINE)
    return path


def main(argv: list[str]) -> int:
    if argv != ["install-pth"]:
        sys.stderr.write("usage: python -m mistral_lab_rpc install-pth\n")
        return 2
    print(f"wrote {install_pth()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
