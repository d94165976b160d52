"""Client-executed tools: calls the client runs, answered once through the API."""

from services.client_tools.manager import EXPIRED_MESSAGE, ClientToolManager

__all__ = ["EXPIRED_MESSAGE", "ClientToolManager"]
