"""Refuse sign-in attempts with 429 while the client IP or the account is over its limit, on both
login forms: the site's (/login/, every role) and the admin's.

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
        forms = {reverse("admin:login"): "admin", reverse("login"): "site"}
        if request.method == "POST" and request.path in forms:
            wait = throttling.retry_after(
                SCOPE, ip=throttling.client_ip(request), account=request.POST.get("username")
            )
            if wait:
                in_admin = forms[request.path] == "admin"
                context = {
                    **(admin.site.each_context(request) if in_admin else {}),
                    "base": "admin/base_site.html" if in_admin else "circulus/base.html",
                    "login_url": request.get_full_path(),
                    "title": "Too many failed sign-ins",
                    "wait_seconds": wait,
                    "wait_minutes": max(1, round(wait / 60)),
                }
                response = TemplateResponse(
                    request, "accounts/login_throttled.html", context, status=429
                )
                response["Retry-After"] = str(wait)
                return response.render()
        return self.get_response(request)
