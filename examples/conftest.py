import sys
from pathlib import Path

# The examples import each other as plain modules (python examples/smoke_detector.py).
sys.path.insert(0, str(Path(__file__).parent))
