"""Alias of bench/api_latency.py (the name DESIGN.md lists):

    .venv/bin/python bench/api.py [--segments N] [--clients 20] [--seconds 30] [--think S]
"""

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(str(Path(__file__).with_name("api_latency.py")), run_name="__main__")
