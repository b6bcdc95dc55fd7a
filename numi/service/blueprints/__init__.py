"""The numi service's blueprints, one module per area of the HTTP API (see
../shared/contract/http-api.md); numi/service/app.py registers them all."""
