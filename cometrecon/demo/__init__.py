"""Demo landing-folder generator: a synthetic CometAPI incident with a known answer.

`write_demo(out_dir)` writes `out_dir/landing/<stream>/...` in the formats of
docs/landing-formats.md and `out_dir/ground_truth.json` (the design's variance
waterfall, computed independently in Python, all money as exact decimal strings).
"""

from cometrecon.demo.generate import DemoSummary, write_demo

__all__ = ["DemoSummary", "write_demo"]
