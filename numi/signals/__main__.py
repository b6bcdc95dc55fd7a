"""`python -m numi.signals [eval [held-out file]]`: train (if needed) the emotion and theme
models, and evaluate the emotion model."""
import sys
import time

from numi import signals
from numi.signals.emotion import main

if not sys.argv[1:]:
    start = time.perf_counter()
    model = signals.theme_model()
    print(f"theme model {model.fingerprint} ready in {time.perf_counter() - start:.1f} s", file=sys.stderr)
raise SystemExit(main())
