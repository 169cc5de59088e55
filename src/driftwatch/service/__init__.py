"""The running daemon: wiring, lifecycle, the check runner, HTTP views, the metrics collector and webhook delivery. It translates the config file into the library's plain arguments."""
