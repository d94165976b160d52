"""Users, their API tokens, and the caller a bearer token stands for."""

from services.auth.rate import RateLimiter
from services.auth.users import Caller, IssuedToken, UserService, hash_token

__all__ = ["Caller", "IssuedToken", "RateLimiter", "UserService", "hash_token"]
