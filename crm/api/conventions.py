"""The HTTP conventions every route shares, installed on the application in one call."""

from __future__ import annotations

from fastapi import FastAPI

from crm.api.errors import Translate, install_error_handlers
from crm.api.methods import install_head_support
from crm.api.openapi import install_openapi


def install_http_conventions(app: FastAPI, *, translate: Translate) -> None:
    """Problem answers for every error (``translate`` names the domain error an infrastructure error stands
    for), HEAD wherever GET is, a 405 that lists every method, and an OpenAPI document that says all that."""
    install_error_handlers(app, translate=translate)
    install_head_support(app)
    install_openapi(app)
