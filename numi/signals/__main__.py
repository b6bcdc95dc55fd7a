"""`python -m numi.signals [eval]`: train (if needed) and evaluate the emotion model."""
from numi.signals.emotion import main

main()
