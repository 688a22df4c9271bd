"""API token authentication (`Authorization: Token <key>`) against hashed tokens.

It answers 401 with `WWW-Authenticate: Token` and throttles guessing: after too many unknown
tokens from one client address it answers 429 until the window passes (an unknown token names
no account, so the count is per address). Only guesses count: a real token that has expired or
belongs to a deactivated user is refused with 401 but names one account, so it never throttles
the other token users behind the same address.
"""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

from accounts import throttling, tokens

SCOPE = "token"
KEYWORD = "Token"


class ThrottledTokenAuthentication(BaseAuthentication):
    keyword = KEYWORD

    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        if len(words) != 2:
            raise AuthenticationFailed("Invalid token header: send `Token <key>`.")
        try:
            key = words[1].decode()
        except UnicodeError:
            raise AuthenticationFailed("Invalid token header: the key is not text.") from None
        ip = throttling.client_ip(request)
        wait = throttling.retry_after(SCOPE, ip=ip)
        if wait:
            raise Throttled(wait, detail=f"Too many invalid tokens. Try again in {wait} seconds.")
        token = tokens.find(key)
        if token is None:
            throttling.record_failure(SCOPE, ip=ip)
            raise AuthenticationFailed("Invalid token.")
        if token.has_expired():
            raise AuthenticationFailed(
                f"Token {token.prefix}… expired on {token.expires:%Y-%m-%d}; ask for a new one."
            )
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
