import os
import sys

# The tests import the package from this checkout even when it is not installed.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
