"""`protect demo`: an embedded broker, the worker, a realistic event stream and a live summary."""
