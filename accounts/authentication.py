"""API token authentication that answers 401 with `WWW-Authenticate: Token` and throttles
guessing: after too many bad tokens from one client IP it answers 429 until the window passes
(a wrong token names no account, so the count is per IP)."""

from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

from accounts import throttling

SCOPE = "token"


class ThrottledTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        ip = throttling.client_ip(request)
        wait = throttling.retry_after(SCOPE, ip=ip)
        if wait:
            raise Throttled(wait, detail=f"Too many invalid tokens. Try again in {wait} seconds.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            throttling.record_failure(SCOPE, ip=ip)
            raise
