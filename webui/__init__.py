"""torbox's status page (/torbox): a bottle app, served on each torbox network.

Run on the router as `python3 -m webui --config /etc/config/torbox` with
PYTHONPATH=/usr/lib/torbox. See webui/README.md.
"""

__version__ = "0.1.0"
