"""Refuse admin sign-in attempts with 429 while the client IP or the account is over its limit.

Failures are counted by the `user_login_failed` receiver (accounts/signals.py); a refused
attempt never reaches the password hasher, so guessing cannot burn the web workers' CPU either.
"""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts import throttling

SCOPE = "login"


class LoginThrottleMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path == reverse("admin:login"):
            wait = throttling.retry_after(
                SCOPE, ip=throttling.client_ip(request), account=request.POST.get("username")
            )
            if wait:
                minutes = max(1, round(wait / 60))
                context = {
                    **admin.site.each_context(request),
                    "title": "Too many failed sign-ins",
                    "wait_seconds": wait,
                    "wait_minutes": minutes,
                }
                response = TemplateResponse(
                    request, "accounts/login_throttled.html", context, status=429
                )
                response["Retry-After"] = str(wait)
                return response.render()
        return self.get_response(request)
