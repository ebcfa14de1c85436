"""Laptop-side deploy tool: install and configure torbox on a router over SSH."""
