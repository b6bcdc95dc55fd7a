"""The numi service (Sanic): custom actions, staff API, console pages."""
