"""Route dependencies as `Annotated` aliases, so route signatures read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from motivnet_serve.core.engine import Engine
from motivnet_serve.router.state import ServiceState


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def get_engine(request: Request) -> Engine:
    return get_state(request).require_engine()


StateDep = Annotated[ServiceState, Depends(get_state)]
EngineDep = Annotated[Engine, Depends(get_engine)]
